#pragma once
// What every family does with a package's tensors: look one up and check its dtype, shape and values, with an
// error that names the file, the tensor and what was expected.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "format/package.hpp"

namespace dyndnn::nn {

[[noreturn]] void failPackage(const std::string& path, const std::string& what);
std::string shapeText(const std::vector<std::int64_t>& shape);
/// The tensor `name` as a zero-copy view; throws FormatError when it is missing, not F32, of another shape
/// than `shape`, or holds NaN/Inf. `role` says what it is for ("supernet weight").
at::Tensor checkedTensor(const format::Package& pkg, const std::string& name, const std::vector<std::int64_t>& shape,
                         const std::string& role);

}  // namespace dyndnn::nn
