// A program outside dyndnn's tree that uses it as a CMake package (tests/consumer/find_package) or as a
// subdirectory (tests/consumer/add_subdirectory): load a package, pick an operating point, infer, print.
// Usage: consumer MODEL.dyn [OPERATING_POINT]   (default: the last operating point)
#include <ATen/ATen.h>
#include <dyndnn/dyndnn.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) try {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: consumer MODEL.dyn [OPERATING_POINT]\n";
    return 2;
  }
  std::cout << "dyndnn " << dyndnn::version() << "\n";

  dyndnn::ModelOptions options;
  options.threads = 1;
  auto model = dyndnn::DynamicModel::load(argv[1], options);
  const std::string op = argc == 3 ? std::string(argv[2]) : model.operatingPoints().back().name;
  model.setSubnet(op);

  const auto& input = model.info().input;
  auto logits = model.infer(at::rand({1, input.channels, 64, 64}));
  std::cout << "operating point " << op << ": logits " << logits.size(0) << "x" << logits.size(1) << ", class "
            << logits.argmax(1).item<long>() << "\n";

  // The static libraries behind dyndnn::dyndnn link as well: the hardware layer and the runtime manager.
  const auto topology = dyndnn::hw::detectCpuTopology();
  dyndnn::runtime::Target target;
  target.latency_ms = 10;
  target.validate();
  std::cout << topology.online.size() << " CPUs online; target " << target.describe() << "\n";
  return 0;
} catch (const dyndnn::Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
