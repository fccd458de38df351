#pragma once
// The elastic Vision Transformer (family "elastic_vit"): depth, embedding width, attention heads and MLP width
// per block, each a prefix of the largest sub-network's weights (AutoFormer / HAT weight entanglement). A
// sub-network lowers to conv (patch embedding) + constant (positional embedding) + layer norm, linear, batched
// matmul and softmax nodes. Mirrors tools/dyndnn_tools/elastic_vit.py (its docstring lists the tensors).

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn::nn {

inline constexpr const char* kElasticVitFamily = "elastic_vit";

struct ElasticVitArch {
  int in_channels = 1, n_classes = 10, resolution = 28, patch = 4, head_dim = 32;
  std::vector<int> widths, depths, heads, mlp_widths;  // sorted choices
  double ln_eps = 1e-5;

  /// Parse and validate; throws FormatError prefixed with `where`.
  static ElasticVitArch fromJson(const nlohmann::json& j, const std::string& where);
  int tokens() const { return (resolution / patch) * (resolution / patch); }
  int maxDepth() const { return depths.back(); }
  std::map<std::string, std::vector<std::int64_t>> tensorShapes() const;
  /// MACs (as the graph counts them) and params of a normalised config.
  Metrics cost(const SubnetConfig& c) const;
};

class ElasticVit final : public Supernet {
 public:
  /// Validate the package: every tensor present, F32, finite, of its shape, nothing else; operating points
  /// valid and without BN statistics (a Transformer has none). Throws FormatError naming the file and field.
  explicit ElasticVit(format::Package& package);

  const ElasticVitArch& arch() const { return arch_; }
  int numClasses() const override { return arch_.n_classes; }
  SubnetConfig normalise(const SubnetConfig& config) const override;
  Metrics cost(const SubnetConfig& config) const override { return arch_.cost(config); }
  SubnetConfig largest() const override;
  std::vector<Knob> searchSpace() const override {
    return {{"d", 1, arch_.depths}, {"h", arch_.maxDepth(), arch_.heads}, {"m", arch_.maxDepth(), arch_.mlp_widths},
            {"w", 1, arch_.widths}};
  }
  engine::Graph lower(const SubnetConfig& config, int operating_point = -1) const override;

 private:
  const at::Tensor& w(const std::string& name) const { return weights_.at(name); }
  ElasticVitArch arch_;
  std::map<std::string, at::Tensor> weights_;
  // width -> the positional embedding's first `width` channels as [1, width, side, side] (the patch
  // convolution's layout), made once at load so that every plan's constant outlives it like the views do
  std::map<int, at::Tensor> pos_;
};

}  // namespace dyndnn::nn
