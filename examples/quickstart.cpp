// dyndnn quickstart: load a dynamic model, look at its operating points, switch, infer.
// Usage: quickstart MODEL.dyn
#include <ATen/ATen.h>
#include <dyndnn/dyndnn.hpp>

#include <iostream>

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::cerr << "usage: quickstart MODEL.dyn\n";
    return 2;
  }
  dyndnn::ModelOptions options;
  options.threads = 2;
  auto model = dyndnn::DynamicModel::load(argv[1], options);
  for (const auto& op : model.operatingPoints())
    std::cout << op.name << ": " << op.metrics.macs / 1e6 << " MMACs, " << op.config.summary() << "\n";

  const auto& input = model.info().input;
  auto frame = at::rand({1, input.channels, 96, 128});  // any size: resized to the active resolution
  for (const auto& op : model.operatingPoints()) {
    model.setSubnet(op.name);  // about a microsecond once the plan is prepared
    auto logits = model.infer(frame);
    std::cout << op.name << " -> class " << logits.argmax(1).item<long>() << "\n";
  }
  return 0;
} catch (const dyndnn::Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
