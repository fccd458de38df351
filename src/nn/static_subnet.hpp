#pragma once
// A sub-network materialised from the supernet: every weight already cropped, transformed and sliced
// to the active channels, BN parameters explicit. Engines turn it into something fast; the reference
// executor runs it as is.

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "dyndnn/subnet_config.hpp"
#include "nn/ofa_mbv3_arch.hpp"

namespace dyndnn::nn {

struct BatchNormParams {
  at::Tensor weight, bias, mean, var;
  double eps = 1e-5;
};

/// Convolution (no bias) + batch norm + activation.
struct ConvBnAct {
  at::Tensor weight;  // [out, in / groups, k, k]
  BatchNormParams bn;
  int stride = 1, groups = 1;
  Act act = Act::None;
  int kernel() const { return static_cast<int>(weight.size(-1)); }
};

struct SqueezeExcite {
  at::Tensor reduce_weight, reduce_bias, expand_weight, expand_bias;  // 1x1 convs
};

/// Inverted residual block: optional 1x1 expansion, depthwise conv, optional SE, 1x1 projection.
struct MBBlock {
  std::optional<ConvBnAct> expand;
  ConvBnAct depthwise;
  std::optional<SqueezeExcite> se;
  ConvBnAct project;
  bool residual = false;
};

struct StaticSubnet {
  SubnetConfig config;
  ConvBnAct stem;
  std::vector<MBBlock> blocks;  // first block, then the active elastic blocks
  ConvBnAct final_expand;
  at::Tensor feature_mix_weight;  // [mix, final_expand, 1, 1], no BN, h_swish
  at::Tensor classifier_weight, classifier_bias;
};

}  // namespace dyndnn::nn
