#include "nn/checked_tensor.hpp"

#include <ATen/ATen.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"

namespace dyndnn::nn {

void failPackage(const std::string& path, const std::string& what) {
  throw FormatError(fmt::format("{}: {}", path, what));
}

std::string shapeText(const std::vector<std::int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

at::Tensor checkedTensor(const format::Package& pkg, const std::string& name, const std::vector<std::int64_t>& shape,
                         const std::string& role) {
  const auto* e = pkg.file.find(name);
  if (e == nullptr) failPackage(pkg.path(), fmt::format("missing tensor '{}' ({} {})", name, role, shapeText(shape)));
  if (e->dtype != format::DType::F32)
    failPackage(pkg.path(),
                fmt::format("tensor '{}': dtype {} where F32 is required", name, format::dtypeName(e->dtype)));
  if (e->shape != shape)
    failPackage(pkg.path(), fmt::format("tensor '{}': shape {} disagrees with the architecture spec, which needs {}",
                                        name, shapeText(e->shape), shapeText(shape)));
  auto t = pkg.file.tensor(*e);
  // Non-finite values can only come from corruption or a broken export; they would poison every output.
  if (!at::isfinite(t).all().item<bool>()) failPackage(pkg.path(), fmt::format("tensor '{}': holds NaN or Inf values", name));
  return t;
}

std::map<std::string, at::Tensor> checkedWeights(const format::Package& pkg,
                                                 const std::map<std::string, std::vector<std::int64_t>>& shapes,
                                                 const std::string& family) {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, shape] : shapes) out[name] = checkedTensor(pkg, name, shape, family + " weight");
  for (const auto& e : pkg.file.entries())
    if (!shapes.count(e.name))
      failPackage(pkg.path(), fmt::format("unexpected tensor '{}': not part of the '{}' architecture", e.name, family));
  return out;
}

void normaliseOperatingPoints(format::Package& pkg, const Supernet& net, const std::string& why) {
  for (auto& op : pkg.operating_points) {
    try {
      op.config = net.normalise(op.config);
    } catch (const InvalidArgument& e) {
      failPackage(pkg.path(), fmt::format("operating point '{}': {}", op.name, e.what()));
    }
    if (op.has_bn_stats) failPackage(pkg.path(), fmt::format("operating point '{}': {}", op.name, why));
    const auto m = net.cost(op.config);
    op.metrics.macs = m.macs;
    op.metrics.params = m.params;
  }
}

}  // namespace dyndnn::nn
