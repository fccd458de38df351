#include <ATen/ATen.h>

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/args.hpp"
#include "cli/image_io.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {
namespace {

constexpr const char* kHelp = R"(usage: dyndnn infer FILE [--op NAME | --config JSON] [--image PATH] [--threads N] [--top K] [--json]

Run one inference and print the top classes with their probabilities.
  --op NAME       operating point to run (default: the package's first)
  --config JSON   an explicit sub-network in OFA's dict form, e.g. '{"ks":7,"e":6,"d":4,"r":224}'
  --image PATH    8-bit PNG, JPEG, BMP, TGA or binary PGM/PPM image, converted to the model's channels
                  (colour to grey by luminance; default: a fixed pseudo-random input)
  --threads N     intra-op threads (default: LibTorch's setting)
  --top K         how many classes to print (default 5)
  --json          machine-readable output
)";

}  // namespace

int runInfer(const std::vector<std::string>& argv) {
  Args args(argv, {"json", "help"}, {"op", "config", "image", "threads", "top"});
  if (args.has("help")) {
    fmt::print("{}", kHelp);
    return 0;
  }
  if (args.positional().size() != 1) throw InvalidArgument("expected exactly one FILE (see --help)");
  if (args.has("op") && args.has("config")) throw InvalidArgument("give --op or --config, not both");
  ModelOptions options;
  options.threads = args.getInt("threads", 0);
  auto model = DynamicModel::load(args.positional()[0], options);
  if (args.has("op")) model.setSubnet(args.get("op"));
  if (args.has("config")) model.setSubnet(SubnetConfig::fromJson(args.get("config")));
  const int r = model.activeConfig().r;

  const auto start = std::chrono::steady_clock::now();
  at::Tensor logits;
  if (args.has("image")) {
    auto img = readImage(args.get("image"), model.info().input.channels);
    logits = model.infer(ImageView{img.pixels.data(), img.height, img.width, img.channels, 0});
  } else {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
    logits = model.infer(at::randn({1, model.info().input.channels, r, r}, gen, at::TensorOptions()));
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  const int k = std::min<int>(args.getInt("top", 5), static_cast<int>(logits.size(1)));
  if (k < 1) throw InvalidArgument("--top must be at least 1");
  auto probs = at::softmax(logits[0], 0);
  auto top = probs.topk(k);
  auto values = std::get<0>(top), indices = std::get<1>(top);
  const auto name = model.activeName().empty() ? std::string("(explicit config)") : model.activeName();
  if (args.has("json")) {
    nlohmann::json classes = nlohmann::json::array();
    for (int i = 0; i < k; ++i)
      classes.push_back({{"class", indices[i].item<int64_t>()}, {"probability", values[i].item<float>()}});
    nlohmann::json out{{"operating_point", model.activeName()},
                       {"config", nlohmann::json::parse(model.activeConfig().toJson())},
                       {"latency_ms", ms},
                       {"top", classes}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  fmt::print("{} {} ({}): {:.2f} ms (first call, includes warm-up)\n", name, model.activeConfig().summary(),
             args.has("image") ? args.get("image") : "pseudo-random input", ms);
  for (int i = 0; i < k; ++i)
    fmt::print("  class {:>4}  p={:.4f}\n", indices[i].item<int64_t>(), values[i].item<float>());
  return 0;
}

}  // namespace dyndnn::cli
