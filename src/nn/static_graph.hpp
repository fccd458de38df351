#pragma once
// A static package (family "static_graph"): one sub-network exported from a supernet package as its op graph
// (DynamicModel::exportSubnet, `dyndnn export`), with only the tensors that sub-network reads and its BN
// statistics baked in. It has one operating point and no knobs; it runs on every backend as the sub-network did,
// because the backends compile the same graph.

#include <string>

#include "engine/graph.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn::nn {

inline constexpr const char* kStaticGraphFamily = "static_graph";

class StaticGraph final : public Supernet {
 public:
  /// Rebuild and validate the stored graph (every node and shape checked again, every tensor F32, finite and used,
  /// BN variances non-negative, the input agreeing with the package's input spec). Throws FormatError naming the
  /// file and the node.
  explicit StaticGraph(format::Package& package);

  int numClasses() const override { return static_cast<int>(graph_.outputShape().back()); }
  /// The one config, {"r": R}; anything with knobs, or another resolution, is refused.
  SubnetConfig normalise(const SubnetConfig& config) const override;
  Metrics cost(const SubnetConfig& config) const override;
  SubnetConfig largest() const override { return config_; }
  std::vector<Knob> searchSpace() const override { return {}; }
  engine::Graph lower(const SubnetConfig& config, int operating_point = -1) const override;

 private:
  engine::Graph graph_;
  SubnetConfig config_;
  Metrics metrics_;
};

/// The package metadata of a static package holding `graph` (what graphToJson wrote), exported from a package of
/// family `source_family` with input spec `input`: `source` says where it came from (family, file, operating
/// point, config), `op` is its one operating point (name and accuracy carry over).
nlohmann::json staticPackageMetadata(const nlohmann::json& graph, const InputSpec& input, const nlohmann::json& source,
                                     const OperatingPoint& op);

}  // namespace dyndnn::nn
