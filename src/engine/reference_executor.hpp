#pragma once
// Runs a materialised sub-network with plain eager ATen operators, one layer at a time, exactly as the
// Python reference does: the obviously-right path that faster engines are checked against.

#include <ATen/core/Tensor.h>

#include "nn/static_subnet.hpp"

namespace dyndnn::engine {

/// Logits for an NCHW float input already at the sub-network's resolution. Thread-safe (reads only).
at::Tensor runReference(const nn::StaticSubnet& net, const at::Tensor& input);

}  // namespace dyndnn::engine
