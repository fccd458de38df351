#pragma once
// The elastic OFA-MobileNetV3 supernet over shared (memory-mapped) weights: validates a package's tensors
// against its architecture and materialises sub-networks with OFA's elastic rules.

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "format/package.hpp"
#include "nn/ofa_mbv3_arch.hpp"
#include "nn/static_subnet.hpp"

namespace dyndnn::nn {

/// Per-subnet BN statistics: layer name -> (mean, var) over the active channels.
using BnStats = std::map<std::string, std::pair<at::Tensor, at::Tensor>>;

class ElasticMbv3 {
 public:
  /// Validate the package against its architecture: every tensor present with the right shape and dtype,
  /// no stray tensors, operating point configs and BN statistics consistent. Fills in each operating
  /// point's MACs/params. Throws FormatError naming the file and field. Thread-safe once constructed.
  explicit ElasticMbv3(format::Package& package);

  const ArchSpec& arch() const { return arch_; }
  const std::vector<int>& resolutions() const { return resolutions_; }

  /// Normalise/validate a config; throws InvalidArgument.
  SubnetConfig normalise(const SubnetConfig& c) const;
  /// BN statistics stored for operating point `index` (empty when it has none).
  const BnStats& operatingPointStats(std::size_t index) const { return op_stats_.at(index); }
  /// Materialise a normalised config; `stats` overrides the supernet's running statistics.
  StaticSubnet materialise(const SubnetConfig& config, const BnStats* stats = nullptr) const;
  /// The active depthwise kernel (OFA: centre crop, then the transform matrices 7->5->3).
  at::Tensor activeKernel(int block, int channels, int kernel) const;

 private:
  const at::Tensor& w(const std::string& name) const;
  BatchNormParams batchNorm(const std::string& layer, int channels, const BnStats* stats) const;

  ArchSpec arch_;
  std::vector<int> resolutions_;
  std::map<std::string, at::Tensor> weights_;
  std::vector<BnStats> op_stats_;
};

}  // namespace dyndnn::nn
