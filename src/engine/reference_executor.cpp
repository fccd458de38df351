#include "engine/reference_executor.hpp"

#include <ATen/ATen.h>

namespace dyndnn::engine {
namespace {

at::Tensor activate(const at::Tensor& x, nn::Act act) {
  switch (act) {
    case nn::Act::ReLU: return at::relu(x);
    case nn::Act::HSwish: return at::hardswish(x);
    case nn::Act::None: break;
  }
  return x;
}

at::Tensor convBnAct(const at::Tensor& x, const nn::ConvBnAct& l) {
  const int pad = l.kernel() / 2;
  auto y = at::conv2d(x, l.weight, {}, {l.stride, l.stride}, {pad, pad}, {1, 1}, l.groups);
  y = at::batch_norm(y, l.bn.weight, l.bn.bias, l.bn.mean, l.bn.var, /*training=*/false, 0.0, l.bn.eps,
                     /*cudnn_enabled=*/false);
  return activate(y, l.act);
}

at::Tensor squeezeExcite(const at::Tensor& x, const nn::SqueezeExcite& se) {
  auto s = x.mean({2, 3}, /*keepdim=*/true);
  s = at::relu(at::conv2d(s, se.reduce_weight, se.reduce_bias));
  s = at::hardsigmoid(at::conv2d(s, se.expand_weight, se.expand_bias));
  return x * s;
}

}  // namespace

at::Tensor runReference(const nn::StaticSubnet& net, const at::Tensor& input) {
  auto x = convBnAct(input, net.stem);
  for (const auto& b : net.blocks) {
    auto y = b.expand ? convBnAct(x, *b.expand) : x;
    y = convBnAct(y, b.depthwise);
    if (b.se) y = squeezeExcite(y, *b.se);
    y = convBnAct(y, b.project);
    x = b.residual ? x + y : y;
  }
  x = convBnAct(x, net.final_expand);
  x = x.mean({2, 3}, /*keepdim=*/true);
  x = at::hardswish(at::conv2d(x, net.feature_mix_weight));
  return at::linear(x.flatten(1), net.classifier_weight, net.classifier_bias);
}

}  // namespace dyndnn::engine
