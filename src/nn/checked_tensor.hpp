#pragma once
// What every family does with a package's tensors: look one up and check its dtype, shape and values, with an
// error that names the file, the tensor and what was expected.

#include <ATen/core/Tensor.h>
#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dyndnn/error.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn::nn {

[[noreturn]] void failPackage(const std::string& path, const std::string& what);
std::string shapeText(const std::vector<std::int64_t>& shape);
/// The tensor `name` as a zero-copy view; throws FormatError when it is missing, not F32, of another shape
/// than `shape`, or holds NaN/Inf. `role` says what it is for ("supernet weight").
at::Tensor checkedTensor(const format::Package& pkg, const std::string& name, const std::vector<std::int64_t>& shape,
                         const std::string& role);

/// Every tensor of `shapes` (name -> shape) as checkedTensor returns it; throws FormatError for a tensor of the
/// file that is not among them (a package of another architecture, or a damaged table). For families whose
/// package holds nothing else.
std::map<std::string, at::Tensor> checkedWeights(const format::Package& pkg,
                                                 const std::map<std::string, std::vector<std::int64_t>>& shapes,
                                                 const std::string& family);

/// Normalises every operating point's config with `net` and fills in its MACs and params; throws FormatError naming
/// the point. For families without per-point BN statistics: a point that has them is refused, `why` saying why.
void normaliseOperatingPoints(format::Package& pkg, const Supernet& net, const std::string& why);

/// A family's architecture spec from the package's 'arch' field (`Arch::fromJson`), errors prefixed with the file,
/// its input channels checked against the package's input spec.
template <class Arch>
Arch parseArch(const format::Package& pkg) {
  Arch arch;
  try {
    arch = Arch::fromJson(pkg.arch, "metadata field 'arch'");
  } catch (const FormatError& e) {
    failPackage(pkg.path(), e.what());
  }
  if (pkg.input.channels != arch.in_channels)
    failPackage(pkg.path(), fmt::format("metadata field 'input.channels' = {} disagrees with 'arch.in_channels' = {}",
                                        pkg.input.channels, arch.in_channels));
  return arch;
}

}  // namespace dyndnn::nn
