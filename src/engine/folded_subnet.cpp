#include "engine/folded_subnet.hpp"

#include <ATen/ATen.h>

namespace dyndnn::engine {

FoldedConv foldConv(const nn::ConvBnAct& l) {
  const auto& bn = l.bn;
  auto scale = bn.weight / at::sqrt(bn.var + bn.eps);
  FoldedConv f;
  f.weight = (l.weight * scale.view({-1, 1, 1, 1})).contiguous();
  f.bias = (bn.bias - bn.mean * scale).contiguous();
  f.stride = l.stride;
  f.groups = l.groups;
  f.act = l.act;
  return f;
}

FoldedSubnet fold(const nn::StaticSubnet& net) {
  FoldedSubnet f;
  f.config = net.config;
  f.in_channels = static_cast<int>(net.stem.weight.size(1));
  f.stem = foldConv(net.stem);
  for (const auto& b : net.blocks) {
    FoldedBlock fb;
    if (b.expand) fb.expand = foldConv(*b.expand);
    fb.depthwise = foldConv(b.depthwise);
    if (b.se) {
      fb.se = nn::SqueezeExcite{b.se->reduce_weight.contiguous(), b.se->reduce_bias.contiguous(),
                                b.se->expand_weight.contiguous(), b.se->expand_bias.contiguous()};
    }
    fb.project = foldConv(b.project);
    fb.residual = b.residual;
    f.blocks.push_back(std::move(fb));
  }
  f.final_expand = foldConv(net.final_expand);
  f.feature_mix_weight = net.feature_mix_weight.contiguous();
  f.classifier_weight = net.classifier_weight.contiguous();
  f.classifier_bias = net.classifier_bias.contiguous();
  return f;
}

}  // namespace dyndnn::engine
