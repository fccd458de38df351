// The ATen plans: the graph's nodes through ATen's operators. The reference plan runs the graph as lowered
// (batch norm separate, nothing fused) on the CPU; the ATen plan runs the optimised graph with its constants on
// the device: cuDNN on CUDA (channels-last, the layout its kernels prefer), the portable CPU fallback otherwise.

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "engine/execution_plan.hpp"
#include "engine/passes.hpp"
#include "engine/reference.hpp"

namespace dyndnn::engine {
namespace {

std::size_t tensorBytes(const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; }

std::size_t constantBytes(const Graph& g) {
  std::size_t total = 0;
  for (const auto& n : g.nodes())
    for (const auto* t : {&n.weight, &n.bias, &n.mean, &n.var}) total += tensorBytes(*t);
  return total;
}

class ATenPlan final : public ExecutionPlan {
 public:
  ATenPlan(Graph g, const at::Device& device, const char* name, const std::string& kernel)
      : ExecutionPlan(g, std::vector<std::string>(g.nodes().size(), kernel)), graph_(std::move(g)), name_(name) {
    layout_ = device.is_cuda() ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    for (auto& n : graph_.nodes()) {
      if (n.scale.defined()) {  // a folded batch norm: into the weights once, here
        n.weight = n.weight * n.scale.view({-1, 1, 1, 1});
        n.scale = at::Tensor();
      }
      for (auto* t : {&n.weight, &n.bias, &n.mean, &n.var})
        if (t->defined()) *t = t->dim() == 4 ? t->to(device).contiguous(layout_) : t->to(device).contiguous();
    }
    bytes_ = constantBytes(graph_);
  }

  at::Tensor run(const at::Tensor& input) const override {
    at::NoGradGuard no_grad;
    return runReference(graph_, input.dim() == 4 ? input.contiguous(layout_) : input.contiguous());
  }
  std::size_t bytes() const override { return bytes_; }
  const char* backend() const override { return name_; }

 private:
  Graph graph_;
  const char* name_;
  at::MemoryFormat layout_ = at::MemoryFormat::Contiguous;
  std::size_t bytes_ = 0;
};

}  // namespace

PlanPtr compileReference(const Graph& graph) {
  return std::make_shared<ATenPlan>(graph, at::Device(at::kCPU), "reference", "aten (reference)");
}

PlanPtr compileATen(const Graph& graph, const at::Device& device) {
  return std::make_shared<ATenPlan>(optimise(graph), device, "aten", device.is_cuda() ? "aten/cuda" : "aten/cpu");
}

}  // namespace dyndnn::engine
