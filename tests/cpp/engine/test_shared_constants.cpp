// Packed weights shared across plans (Node::shareable): plans built from the same view share one packed copy,
// and nothing else does. Different slices of one tensor, the same slice under another scale (a folded batch
// norm) or in another layout must each get their own bytes; a plan keeps working after the plan it shared
// with is gone.

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <catch2/catch.hpp>

#include "engine/execution_plan.hpp"
#include "engine/graph.hpp"
#include "engine/op_check.hpp"
#include "engine/reference.hpp"
#include "fixtures.hpp"

using dyndnn::engine::Graph;
using dyndnn::test::relativeError;

namespace {

// A 1x1 convolution over a slice of a large shared weight (>= 1 MB packed, so the backend shares it),
// optionally followed by a batch norm that folds into a scale.
Graph sliceGraph(const at::Tensor& storage, int out, int in, const at::Tensor& bn_scale, int size = 6) {
  Graph g;
  int x = g.input({1, in, size, size});
  x = g.shareable(g.conv2d(x, storage.narrow(0, 0, out).narrow(1, 0, in), at::Tensor(), 1, 0));
  if (bn_scale.defined())
    x = g.batchNorm(x, bn_scale, at::zeros({out}), at::zeros({out}), at::ones({out}), 0.0);
  g.setOutput(x);
  return g;
}

void check(const Graph& g, const dyndnn::engine::PlanPtr& plan) {
  at::NoGradGuard no_grad;
  const auto x = dyndnn::test::randomInput(g);
  CHECK(relativeError(plan->run(x), dyndnn::engine::runReference(g, x)) < dyndnn::test::kOpTolerance);
}

}  // namespace

TEST_CASE("shared packed weights: same view shares, other slices, scales and layouts do not", "[plans][sharing]") {
  if (!dyndnn::engine::hasOneDnn()) {
    WARN("skipped: this build has no oneDNN backend");
    return;
  }
  const auto storage = dyndnn::test::randomWeight({640, 640, 1, 1});  // 1.6 MB
  const auto a = sliceGraph(storage, 640, 640, {});
  const auto b = sliceGraph(storage, 640, 600, {});       // another slice of the same tensor
  const auto c = sliceGraph(storage, 640, 640, at::rand({640}) + 0.5);  // same slice, another scale
  const auto d = sliceGraph(storage, 640, 640, {}, 1);    // same slice on a 1x1 input: maybe another layout
  auto pa = dyndnn::engine::compile(a, at::kCPU);
  auto pa2 = dyndnn::engine::compile(a, at::kCPU);
  auto pb = dyndnn::engine::compile(b, at::kCPU);
  auto pc = dyndnn::engine::compile(c, at::kCPU);
  auto pd = dyndnn::engine::compile(d, at::kCPU);
  for (const auto& [g, p] : std::vector<std::pair<const Graph*, dyndnn::engine::PlanPtr>>{
           {&a, pa}, {&a, pa2}, {&b, pb}, {&c, pc}, {&d, pd}})
    check(*g, p);
  pa.reset();  // the first owner goes; the plan that shares its weights keeps them
  check(a, pa2);
  pa2.reset();
  auto again = dyndnn::engine::compile(a, at::kCPU);  // nobody holds them now: packed afresh
  check(a, again);
}
