// The ATen plan: folded weights run through ATen's operators. On CUDA this is cuDNN (channels-last,
// the layout its kernels prefer); on CPU it is the portable fallback when oneDNN is not available.

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "engine/execution_plan.hpp"

namespace dyndnn::engine {
namespace {

at::Tensor activate(at::Tensor x, nn::Act act) {
  switch (act) {
    case nn::Act::ReLU: return at::relu_(x);
    case nn::Act::HSwish: return at::hardswish_(x);
    case nn::Act::None: break;
  }
  return x;
}

at::Tensor conv(const at::Tensor& x, const FoldedConv& c) {
  const int pad = c.kernel() / 2;
  return activate(at::conv2d(x, c.weight, c.bias, {c.stride, c.stride}, {pad, pad}, {1, 1}, c.groups), c.act);
}

std::size_t tensorBytes(const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; }

class ATenPlan final : public ExecutionPlan {
 public:
  ATenPlan(FoldedSubnet net, const at::Device& device) : ExecutionPlan(net.config), net_(std::move(net)) {
    const auto layout = device.is_cuda() ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    auto place = [&](at::Tensor& t) {
      t = t.dim() == 4 ? t.to(device).contiguous(layout) : t.to(device);
      bytes_ += tensorBytes(t);
    };
    auto placeConv = [&](FoldedConv& c) {
      place(c.weight);
      place(c.bias);
    };
    placeConv(net_.stem);
    for (auto& b : net_.blocks) {
      if (b.expand) placeConv(*b.expand);
      placeConv(b.depthwise);
      if (b.se)
        for (auto* t : {&b.se->reduce_weight, &b.se->reduce_bias, &b.se->expand_weight, &b.se->expand_bias}) place(*t);
      placeConv(b.project);
    }
    placeConv(net_.final_expand);
    place(net_.feature_mix_weight);
    place(net_.classifier_weight);
    place(net_.classifier_bias);
    layout_ = layout;
  }

  at::Tensor run(const at::Tensor& input) const override {
    at::NoGradGuard no_grad;
    auto x = conv(input.contiguous(layout_), net_.stem);
    for (const auto& b : net_.blocks) {
      auto y = b.expand ? conv(x, *b.expand) : x;
      y = conv(y, b.depthwise);
      if (b.se) {
        auto s = y.mean({2, 3}, /*keepdim=*/true);
        s = activate(at::conv2d(s, b.se->reduce_weight, b.se->reduce_bias), nn::Act::ReLU);
        s = at::conv2d(s, b.se->expand_weight, b.se->expand_bias);
        at::hardsigmoid_(s);
        y = y * s;
      }
      y = conv(y, b.project);
      x = b.residual ? y.add_(x) : y;
    }
    x = conv(x, net_.final_expand).mean({2, 3}, /*keepdim=*/true);
    x = activate(at::conv2d(x, net_.feature_mix_weight), nn::Act::HSwish);
    return at::linear(x.flatten(1), net_.classifier_weight, net_.classifier_bias);
  }

  std::size_t bytes() const override { return bytes_; }
  const char* backend() const override { return "aten"; }

 private:
  FoldedSubnet net_;
  at::MemoryFormat layout_ = at::MemoryFormat::Contiguous;
  std::size_t bytes_ = 0;
};

}  // namespace

std::shared_ptr<const ExecutionPlan> buildATenPlan(FoldedSubnet net, const at::Device& device) {
  return std::make_shared<ATenPlan>(std::move(net), device);
}

}  // namespace dyndnn::engine
