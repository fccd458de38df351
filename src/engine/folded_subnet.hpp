#pragma once
// A materialised sub-network with every batch norm folded into the convolution before it
// (w' = w * gamma / sqrt(var + eps) per output channel, b' = beta - mean * gamma / sqrt(var + eps)).
// Both execution plans start from this; the reference executor keeps BN separate, so tests compare them.

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "nn/static_subnet.hpp"

namespace dyndnn::engine {

struct FoldedConv {
  at::Tensor weight, bias;  // contiguous, [out, in / groups, k, k] and [out]
  int stride = 1, groups = 1;
  nn::Act act = nn::Act::None;
  int kernel() const { return static_cast<int>(weight.size(-1)); }
  int outChannels() const { return static_cast<int>(weight.size(0)); }
};

struct FoldedBlock {
  std::optional<FoldedConv> expand;
  FoldedConv depthwise;
  std::optional<nn::SqueezeExcite> se;  // 1x1 convs with bias: ReLU after reduce, hard-sigmoid after expand
  FoldedConv project;
  bool residual = false;
};

struct FoldedSubnet {
  SubnetConfig config;
  int in_channels = 0;
  FoldedConv stem;
  std::vector<FoldedBlock> blocks;
  FoldedConv final_expand;
  at::Tensor feature_mix_weight;  // [mix, final_expand, 1, 1], no bias, h_swish
  at::Tensor classifier_weight, classifier_bias;
  int numClasses() const { return static_cast<int>(classifier_weight.size(0)); }
};

FoldedSubnet fold(const nn::StaticSubnet& net);
/// One layer folded (plans that pack layer by layer use this, so only one folded layer exists at a time).
FoldedConv foldConv(const nn::ConvBnAct& layer);

}  // namespace dyndnn::engine
