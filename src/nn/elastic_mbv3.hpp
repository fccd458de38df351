#pragma once
// The elastic OFA-MobileNetV3 supernet over shared (memory-mapped) weights: validates a package's tensors
// against its architecture and lowers sub-networks to the op graph with OFA's elastic rules (kernel crop and
// transform, channel and depth prefixes, per-subnet batch-norm statistics).

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "format/package.hpp"
#include "nn/family.hpp"
#include "nn/ofa_mbv3_arch.hpp"

namespace dyndnn::nn {

/// Per-subnet BN statistics: layer name -> (mean, var) over the active channels.
using BnStats = std::map<std::string, std::pair<at::Tensor, at::Tensor>>;

class ElasticMbv3 final : public Supernet {
 public:
  /// Validate the package against its architecture: every tensor present with the right shape and dtype,
  /// no stray tensors, operating point configs and BN statistics consistent. Fills in each operating
  /// point's MACs/params. Throws FormatError naming the file and field. Thread-safe once constructed.
  explicit ElasticMbv3(format::Package& package);

  const ArchSpec& arch() const { return arch_; }
  const std::vector<int>& resolutions() const { return resolutions_; }

  int numClasses() const override { return arch_.n_classes; }
  SubnetConfig normalise(const SubnetConfig& c) const override;
  Metrics cost(const SubnetConfig& c) const override { return arch_.cost(c); }
  SubnetConfig largest() const override;
  std::vector<Knob> searchSpace() const override {
    const int blocks = arch_.numElasticBlocks();
    return {{"d", static_cast<int>(arch_.stages.size()), arch_.depth_list},
            {"e", blocks, arch_.expand_ratio_list},
            {"ks", blocks, arch_.ks_list}};
  }
  engine::Graph lower(const SubnetConfig& config, int operating_point = -1) const override;
  bool hasPointStatistics() const override { return true; }
  /// BN statistics stored for operating point `index` (empty when it has none).
  const BnStats& operatingPointStats(std::size_t index) const { return op_stats_.at(index); }
  /// The active depthwise kernel (OFA: centre crop, then the transform matrices 7->5->3), a view.
  at::Tensor activeKernel(int block, int channels, int kernel) const;

 private:
  const at::Tensor& w(const std::string& name) const;
  // Centre crop + transform chain of the first `channels` channels of a block's kernel (computed at load).
  at::Tensor transformedKernel(int block, int channels, int kernel) const;
  // conv (no bias) + batch norm (+ activation) of a named layer, over its first `channels` channels
  int convBnAct(engine::Graph& g, int x, at::Tensor weight, const std::string& layer, int channels, int stride,
                Act act, const BnStats* stats) const;

  ArchSpec arch_;
  std::vector<int> resolutions_;
  std::map<std::string, at::Tensor> weights_;
  std::vector<BnStats> op_stats_;
  std::map<std::pair<int, int>, at::Tensor> kernels_;  // (block, kernel) -> every channel's transformed kernel
};

}  // namespace dyndnn::nn
