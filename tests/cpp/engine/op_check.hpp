#pragma once
// The per-op test helper (as ncnn's tests/testutil.h): a small graph is compiled by every CPU backend (and
// CUDA's when a GPU is visible) and each plan's output is compared with the reference backend's on random
// input, after checking that the reference output depends on its input (so a plan that ignored it would fail).

#include <ATen/ATen.h>

#include <string>

#include "engine/graph.hpp"

namespace dyndnn::test {

/// Relative tolerance of every per-op comparison (max |plan - reference| / max |reference|).
inline constexpr double kOpTolerance = 1e-5;

/// Random input of the graph's input shape (batch `batch`), normal(0, 1).
at::Tensor randomInput(const engine::Graph& g, std::int64_t batch = 1);
/// Random weights of `shape` scaled by 1/sqrt(fan_in) (the product of all but the first dimension), so that
/// activations neither vanish nor explode through a few ops.
at::Tensor randomWeight(std::vector<std::int64_t> shape);

/// Compiles `g` on every available backend and checks each against the reference on two random inputs
/// (batch 1, and batch 2 where `batched`); `what` names the case in failure messages. Also checks that the
/// reference output for two different inputs differs by more than `min_dependence`.
void checkBackends(const engine::Graph& g, const std::string& what, bool batched = true, double min_dependence = 1e-2);

}  // namespace dyndnn::test
