#pragma once
// Runs an op graph node by node with plain eager ATen operators: obviously right, the oracle every backend's
// per-op and end-to-end tests compare with. The ATen/cuDNN plan runs its optimised graph through it too.

#include <ATen/core/Tensor.h>

#include <vector>

#include "engine/graph.hpp"

namespace dyndnn::engine {

/// The graph's output for `input` ([N, ...] with the graph's input shape after the batch), on the device the
/// graph's constants live on. Thread-safe (reads only).
at::Tensor runReference(const Graph& g, const at::Tensor& input);

/// One node (its fused post-ops left out) on the values of the nodes before it; the other CPU backends run the
/// ops they have no kernel of their own for through it.
at::Tensor runNodeReference(const Node& n, const std::vector<at::Tensor>& values);

/// One activation as ATen computes it (GELU: the erf form).
at::Tensor activate(const at::Tensor& x, Act act);

}  // namespace dyndnn::engine
