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

}  // namespace dyndnn::nn
