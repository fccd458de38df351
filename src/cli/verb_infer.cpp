#include <ATen/ATen.h>

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "dyndnn/tools/image_file.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {
namespace {


}  // namespace

int runInfer(const std::vector<std::string>& argv) {
  Command cmd("infer", "FILE [--op NAME | --config JSON] [--image PATH] [--threads N] [--top K] [--json]",
              "Run one inference and print the top classes with their probabilities.");
  std::string file, image;
  Command::SubnetChoice subnet;
  ModelOptions options;
  int top_k = 5;
  bool json = false;
  cmd.addFile(file);
  cmd.addSubnet(subnet);
  cmd->add_option("--image", image,
                  "8-bit PNG, JPEG, BMP, TGA or binary PGM/PPM image, converted to the model's channels (colour to "
                  "grey by luminance; default: a fixed pseudo-random input)")
      ->type_name("PATH");
  cmd.addThreads(options.threads, "default: LibTorch's setting");
  cmd.addBackend(options.backend);
  cmd->add_option("--top", top_k, "how many classes to print")->type_name("K")->check(positive())
      ->capture_default_str();
  cmd.addJson(json);
  if (!cmd.parse(argv)) return 0;
  auto model = DynamicModel::load(file, options);
  subnet.applyTo(model);
  const int r = model.activeConfig().r;

  const auto start = std::chrono::steady_clock::now();
  at::Tensor logits;
  if (!image.empty()) {
    auto img = readImage(image, model.info().input.channels);
    logits = model.infer(ImageView{img.pixels.data(), img.height, img.width, img.channels, 0});
  } else {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
    logits = model.infer(at::randn({1, model.info().input.channels, r, r}, gen, at::TensorOptions()));
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  const int k = std::min<int>(top_k, static_cast<int>(logits.size(1)));
  auto probs = at::softmax(logits[0], 0);
  auto top = probs.topk(k);
  auto values = std::get<0>(top), indices = std::get<1>(top);
  const auto name = model.activeName().empty() ? std::string("(explicit config)") : model.activeName();
  if (json) {
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
             image.empty() ? std::string("pseudo-random input") : image, ms);
  for (int i = 0; i < k; ++i)
    fmt::print("  class {:>4}  p={:.4f}\n", indices[i].item<int64_t>(), values[i].item<float>());
  return 0;
}

}  // namespace dyndnn::cli
