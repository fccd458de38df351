#pragma once
// The OFA MobileNetV3 family's architecture spec: widths, strides, activations, SE, elastic choices.
// Mirrors tools/dyndnn_tools/arch.py; the package stores it as JSON so that both sides agree.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dyndnn/types.hpp"
#include "dyndnn/subnet_config.hpp"

namespace dyndnn::nn {

inline constexpr const char* kOfaMbv3Family = "ofa_mbv3";

enum class Act { None, ReLU, HSwish };

/// OFA's rounding of a width to a multiple of `divisor`, never below 90% of the value.
int makeDivisible(double v, int divisor = 8);

struct StageSpec {
  int width = 0, stride = 1;
  Act act = Act::ReLU;
  bool se = false;
};

/// Geometry of one elastic block (index 1.. in the supernet's block list).
struct BlockGeometry {
  int in = 0, out = 0, stride = 1, max_mid = 0, stage = 0;
  Act act = Act::ReLU;
  bool se = false, residual = false;
};

struct ArchSpec {
  int in_channels = 3, n_classes = 1000;
  double width_mult = 1.0;
  int stem_width = 16, stem_stride = 2;
  Act stem_act = Act::HSwish;
  int first_block_width = 16;
  Act first_block_act = Act::ReLU;
  std::vector<StageSpec> stages;
  int final_expand = 960, feature_mix = 1280;
  std::vector<int> ks_list, expand_ratio_list, depth_list;  // sorted ascending
  double bn_eps = 1e-5;

  /// Parse and validate; throws FormatError prefixed with `where`.
  static ArchSpec fromJson(const nlohmann::json& j, const std::string& where);
  /// The published OFA MobileNetV3 layout at a width multiplier.
  static ArchSpec ofaMbv3(double width_mult = 1.0, int n_classes = 1000, int in_channels = 3);

  int maxDepth() const { return depth_list.back(); }
  int numElasticBlocks() const { return static_cast<int>(stages.size()) * maxDepth(); }
  std::vector<BlockGeometry> blocks() const;
  /// Kernel transform steps, largest first: (7,5), (5,3) for ks_list {3,5,7}.
  std::vector<std::pair<int, int>> transformPairs() const;
  /// name -> shape of every shared-weight tensor of the supernet.
  std::map<std::string, std::vector<std::int64_t>> tensorShapes() const;

  /// Broadcast scalars and validate against the spec and the input resolutions. Returns an empty string
  /// and fills `out` when valid, otherwise a message saying which field is wrong and what is allowed.
  std::string normalise(const SubnetConfig& c, const std::vector<int>& resolutions, SubnetConfig& out) const;
  /// batch-norm layer name -> active channels for a normalised config.
  std::map<std::string, int> bnLayers(const SubnetConfig& c) const;
  /// MACs and params of a normalised config's static sub-network.
  Metrics cost(const SubnetConfig& c) const;
};

/// Middle (expanded) width of a block: make_divisible(round(in * e)).
int midChannels(int in, int expand_ratio);
/// Squeeze-excite hidden width for a middle width.
int seChannels(int mid);

}  // namespace dyndnn::nn
