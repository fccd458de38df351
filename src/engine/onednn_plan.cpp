// The oneDNN plan (CPU): a compiled graph's primitives and packed constants (onednn_compiler.hpp builds them),
// run once per image of a batch on a caller's workspace. Eager ATen on this class of build falls back to im2col
// + reference BLAS for many 1x1 convolutions and for every matrix product; this path never touches BLAS.

#include "engine/execution_plan.hpp"

#include "dyndnn/error.hpp"

#ifdef DYNDNN_HAVE_ONEDNN

#include <ATen/ATen.h>

#include "engine/onednn_compiler.hpp"
#include "engine/onednn_workspace.hpp"
#include "engine/passes.hpp"

namespace dyndnn::engine {
namespace {

using onednn::Compiler;

class OneDnnPlan final : public ExecutionPlan {
 public:
  OneDnnPlan(const Graph& g, Compiler& c)
      : ExecutionPlan(g, c.kernels()), workspaces_(c.parts()), out_numel_(numel(g.outputShape())),
        in_numel_(numel(g.inputShape())) {}

  at::Tensor run(const at::Tensor& input) const override {
    const auto n = input.size(0);
    auto out_shape = graph().outputShape();
    out_shape[0] = n;
    auto out = at::empty(out_shape, at::TensorOptions().dtype(at::kFloat));
    auto x = input.contiguous();
    if (x.numel() != n * in_numel_)
      throw InvalidArgument("oneDNN plan: input of shape " + shapeText(Shape(x.sizes().begin(), x.sizes().end())) +
                            " where the graph takes " + shapeText(graph().inputShape()) + " with any batch");
    auto ws = workspaces_.acquire();
    for (std::int64_t i = 0; i < n; ++i) {  // the plan is built for batch 1
      ws->bind(x.data_ptr<float>() + i * in_numel_, out.data_ptr<float>() + i * out_numel_);
      workspaces_.execute(*ws);
    }
    workspaces_.release(std::move(ws));
    return out;
  }

  std::size_t bytes() const override { return workspaces_.bytes(); }
  const char* backend() const override { return "onednn"; }

 private:
  WorkspacePool workspaces_;
  std::int64_t out_numel_, in_numel_;
};

}  // namespace

bool hasOneDnn() { return true; }

namespace {
// oneDNN 2.6's aarch64 JIT convolutions (jit:sve_512) computed a fused hard-swish post-op wrongly: relative
// error above 1 in the per-op tests under qemu-aarch64 with its SVE CPU, while the same activation as its own
// eltwise primitive, and every other fused activation, matched the reference (scripts/arm64_test.sh). Not fused
// there; on NEON-only cores the kernels are oneDNN's reference ones, where fusing saves nothing either.
bool fusableHere(Act act) {
#if defined(__aarch64__)
  return act != Act::HSwish;
#else
  (void)act;
  return true;
#endif
}
}  // namespace

PlanPtr compileOneDnn(const Graph& graph) {
  auto g = optimise(graph, fusableHere);
  Compiler c(g);
  c.compile();
  return std::make_shared<OneDnnPlan>(g, c);
}

}  // namespace dyndnn::engine

#else  // no oneDNN in this build: the ATen plan serves the CPU

namespace dyndnn::engine {
bool hasOneDnn() { return false; }
PlanPtr compileOneDnn(const Graph&) { throw InvalidArgument("this dyndnn build has no oneDNN backend"); }
}  // namespace dyndnn::engine

#endif

