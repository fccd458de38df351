#pragma once
// Access to the packages and reference outputs that tools/make_random_package.py writes for the tests.

#include <ATen/core/Tensor.h>

#include <string>

namespace dyndnn::test {

/// Path of a fixture file in $DYNDNN_FIXTURE_DIR (fails the test when the variable is unset).
std::string fixture(const std::string& name);
/// Path of a file of the source tree (e.g. "models/fmnist_ofa_mbv3.dyn"), compiled in; $DYNDNN_SOURCE_DIR overrides.
std::string sourceFile(const std::string& relative);
/// A fresh temporary directory for one test, removed at exit.
std::string tempDir();
/// Tensor `name` from a safetensors file (copied).
at::Tensor loadTensor(const std::string& path, const std::string& name);
/// max |a - b| / max |b|
double relativeError(const at::Tensor& a, const at::Tensor& b);

}  // namespace dyndnn::test
