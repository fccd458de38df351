// dyndnn quickstart: load a dynamic model, state a goal, infer; the runtime manager picks the sub-network.
// Usage: quickstart MODEL.dyn
#include <ATen/ATen.h>
#include <dyndnn/dyndnn.hpp>

#include <iostream>

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::cerr << "usage: quickstart MODEL.dyn\n";
    return 2;
  }
  auto model = dyndnn::DynamicModel::load(argv[1]);
  for (const auto& op : model.operatingPoints())
    std::cout << op.name << ": " << op.metrics.macs / 1e6 << " MMACs, " << op.config.summary() << "\n";

  dyndnn::runtime::Target target;
  target.latency_ms = 5.0;  // per-frame budget; also: fps, min_accuracy, power_w, objective
  model.setTarget(target);  // measures this device once; from now on every infer() decides first
  const auto& input = model.info().input;
  auto frame = at::rand({1, input.channels, 96, 128});  // any size: resized to the active resolution
  at::Tensor logits;
  for (int i = 0; i < 20; ++i) logits = model.infer(frame);
  const auto stats = model.runtimeStats();
  std::cout << "managed: " << stats.current_op << " -> class " << logits.argmax(1).item<long>() << " ("
            << stats.last_reason << ")\n";

  const auto& last = model.operatingPoints().back();
  model.setSubnet(last.name);  // manual control: the manager steps aside until the next setTarget()
  std::cout << last.name << " -> class " << model.infer(frame).argmax(1).item<long>() << "\n";
  return 0;
} catch (const dyndnn::Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
