#pragma once
// The incremental channel-group CNN (family "group_cnn"; Xun et al., MLCAD 2019): every layer's channels split
// into G groups trained one after another. Group i reads group i of the layer below ("grouped") or groups 1..i
// ("triangular"), so the level with g groups active never depends on a weight of a group > g: pruning groups is
// exact and needs no retraining. Mirrors tools/dyndnn_tools/group_cnn.py.

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn::nn {

inline constexpr const char* kGroupCnnFamily = "group_cnn";

struct GroupCnnLayer {
  bool conv = true;         // else fully connected
  std::vector<int> widths;  // channels of each group (equal when grouped)
  int kernel = 1, stride = 1, pad = 0;
  bool bn = false;
  int pool_kernel = 0, pool_stride = 0;  // max pool after the activation; 0 = none
};

struct GroupCnnArch {
  int groups = 0, in_channels = 1, n_classes = 10, resolution = 28;
  bool triangular = false;
  std::vector<GroupCnnLayer> layers;

  /// Parse and validate; throws FormatError prefixed with `where`.
  static GroupCnnArch fromJson(const nlohmann::json& j, const std::string& where);
  /// Spatial size of each conv layer's output (after its pool).
  std::vector<int> featureSizes() const;
  /// Columns per input channel of layer `index`: the flattened map for the first fully connected layer, else 1.
  std::int64_t spatialFactor(std::size_t index) const;
  /// Channels of layer `index` that level g computes (groups 1..g, a prefix).
  std::int64_t rows(std::size_t index, int g) const;
  /// Weight columns that output group i (0-based) of layer `index` reads: the image's channels (first layer),
  /// one input group (grouped) or the input groups 1..i+1 (triangular). The weight has columns(index, G-1).
  std::int64_t columns(std::size_t index, int i) const;
  /// name -> shape of every tensor (tools/dyndnn_tools/group_cnn.py: tensor_shapes).
  std::map<std::string, std::vector<std::int64_t>> tensorShapes() const;
  Metrics cost(int g) const;
};

class GroupCnn final : public Supernet {
 public:
  /// Validate the package: every tensor present, F32, finite, right shape, nothing else; for triangular
  /// connectivity, the blocks above the diagonal exactly zero (else pruning would not be exact). Throws
  /// FormatError naming the file and field.
  explicit GroupCnn(format::Package& package);

  const GroupCnnArch& arch() const { return arch_; }
  int numClasses() const override { return arch_.n_classes; }
  SubnetConfig normalise(const SubnetConfig& config) const override;
  Metrics cost(const SubnetConfig& config) const override { return arch_.cost(config.at("g").front()); }
  SubnetConfig largest() const override;
  std::vector<Knob> searchSpace() const override {
    std::vector<int> levels;
    for (int g = 1; g <= arch_.groups; ++g) levels.push_back(g);
    return {{"g", 1, levels}};
  }
  engine::Graph lower(const SubnetConfig& config, int operating_point = -1) const override;

 private:
  const at::Tensor& w(const std::string& name) const { return weights_.at(name); }
  GroupCnnArch arch_;
  std::map<std::string, at::Tensor> weights_;
  std::vector<at::Tensor> level_bias_;  // [g - 1]: the classifier bias of level g (the first g groups' sum)
};

}  // namespace dyndnn::nn
