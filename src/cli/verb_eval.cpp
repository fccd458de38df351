#include <ATen/ATen.h>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "dyndnn/tools/idx_dataset.hpp"
#include "cli/progress.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {
namespace {

std::string find(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    auto p = std::filesystem::path(dir) / (stem + suffix);
    if (std::filesystem::exists(p)) return p.string();
  }
  throw IoError(fmt::format("{}: no {} or {}.gz (see --help for the expected layout)", dir, stem, stem));
}

}  // namespace

int runEval(const std::vector<std::string>& argv) {
  Command cmd("eval", "FILE --data DIR [--op NAME] [--limit N] [--threads N] [--json]",
              "Top-1 accuracy of every operating point on an IDX test set (MNIST / Fashion-MNIST layout: "
              "DIR/t10k-images-idx3-ubyte[.gz] and DIR/t10k-labels-idx1-ubyte[.gz]), with the package's own image "
              "preprocessing, beside the accuracy stored in the package.");
  std::string file, data, only;
  ModelOptions options;
  options.threads = 2;
  int limit = 0;
  bool json = false;
  cmd.addFile(file);
  cmd->add_option("--data", data, "the test set's folder, e.g. /usr/share/datasets/fashion-mnist")
      ->type_name("DIR")
      ->required();
  cmd->add_option("--op", only, "only this operating point")->type_name("NAME");
  cmd->add_option("--limit", limit, "only the first N images")->type_name("N")->check(positive());
  cmd.addThreads(options.threads, "default 2");
  cmd.addBackend(options.backend);
  cmd.addJson(json);
  if (!cmd.parse(argv)) return 0;
  auto model = DynamicModel::load(file, options);
  const auto images = readIdxImages(find(data, "t10k-images-idx3-ubyte"));
  const auto labels = readIdxLabels(find(data, "t10k-labels-idx1-ubyte"));
  if (static_cast<std::size_t>(images.count) != labels.size())
    throw InvalidArgument(fmt::format("{} images but {} labels", images.count, labels.size()));
  int n = images.count;
  if (limit > 0) n = std::min(n, limit);
  if (model.info().input.channels != 1)
    throw InvalidArgument(fmt::format("the IDX images have 1 channel; the model needs {}", model.info().input.channels));

  std::vector<OperatingPoint> ops;
  for (const auto& op : model.operatingPoints())
    if (only.empty() || op.name == only) ops.push_back(op);
  if (ops.empty()) throw InvalidArgument(fmt::format("no operating point named '{}'", only));

  nlohmann::json rows = nlohmann::json::array();
  Progress progress("eval", static_cast<long>(ops.size()) * n, !json);
  const std::size_t pixels = static_cast<std::size_t>(images.rows) * images.cols;
  for (const auto& op : ops) {
    model.setSubnet(op.name);
    int correct = 0;
    for (int i = 0; i < n; ++i, progress.step()) {
      auto logits = model.infer(ImageView{images.pixels.data() + i * pixels, images.rows, images.cols, 1, 0});
      correct += logits.argmax(1).item<std::int64_t>() == labels[i];
    }
    const double top1 = 100.0 * correct / n;
    rows.push_back({{"name", op.name},
                    {"macs", op.metrics.macs},
                    {"top1", top1},
                    {"stored", op.metrics.accuracy ? nlohmann::json(*op.metrics.accuracy) : nlohmann::json()},
                    {"difference", op.metrics.accuracy ? nlohmann::json(top1 - *op.metrics.accuracy) : nlohmann::json()}});
  }
  progress.done();
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"images", n}, {"operating_points", rows}}.dump(2));
    return 0;
  }
  fmt::print("{} test images\n  {:<16} {:>8} {:>8} {:>8} {:>8}\n", n, "name", "MMACs", "top-1", "stored", "diff");
  for (const auto& r : rows) {
    const bool stored = !r["stored"].is_null();
    fmt::print("  {:<16} {:>8.1f} {:>7.2f}% {:>8} {:>8}\n", r["name"].get<std::string>(), r["macs"].get<double>() / 1e6,
               r["top1"].get<double>(), stored ? fmt::format("{:.2f}%", r["stored"].get<double>()) : "-",
               stored ? fmt::format("{:+.2f}", r["difference"].get<double>()) : "-");
  }
  return 0;
}

}  // namespace dyndnn::cli
