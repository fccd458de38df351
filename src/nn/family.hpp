#pragma once
// A model family's supernet over a package's shared weights, as the rest of the library sees it: configs are
// validated and costed here, and a sub-network leaves nn/ only as an op graph. The family named in the package
// header is dispatched on in one place, openSupernet().

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dyndnn/subnet_config.hpp"
#include "dyndnn/types.hpp"
#include "engine/graph.hpp"
#include "format/package.hpp"

namespace dyndnn::nn {

class Supernet {
 public:
  virtual ~Supernet() = default;
  virtual int numClasses() const = 0;
  /// Broadcast and validate a config; throws InvalidArgument saying which field is wrong and what is allowed.
  virtual SubnetConfig normalise(const SubnetConfig& config) const = 0;
  /// MACs and params of a normalised config.
  virtual Metrics cost(const SubnetConfig& config) const = 0;
  /// The largest sub-network (what a package without operating points runs).
  virtual SubnetConfig largest() const = 0;
  /// One elastic knob of the search space: `count` values (one per block or stage, or a single one), each one
  /// of `choices` (ascending).
  struct Knob {
    std::string name;
    int count = 1;
    std::vector<int> choices;
  };
  /// Every knob a config has. The knobs and their values are independent: any combination, with any of the
  /// package's resolutions as "r", normalises (what random sampling and evolution in a search rely on).
  virtual std::vector<Knob> searchSpace() const = 0;
  /// A normalised config as an op graph, with the batch-norm statistics stored for operating point
  /// `operating_point` (the supernet's own when it is negative or the point has none). Thread-safe.
  virtual engine::Graph lower(const SubnetConfig& config, int operating_point = -1) const = 0;
  /// Whether an operating point may carry its own batch-norm statistics (op.<i>.<layer>.running_{mean,var}),
  /// as OFA recalibrates each sub-network. Families whose levels share the supernet's statistics by design (the
  /// incrementally trained group CNN) or have no batch norm say no: a search then evaluates them as stored.
  virtual bool hasPointStatistics() const { return false; }
};

/// Every config whose knobs each take one value in all their entries, at each of `resolutions`: the product of
/// the search space's choices. Together they hold every layer a sub-network can have at those resolutions (a
/// layer's shape depends on its own choices and the resolution, not on its neighbours'), which is what a latency
/// lookup table must measure.
std::vector<SubnetConfig> uniformConfigs(const Supernet& net, const std::vector<int>& resolutions);

/// A config drawn uniformly from the search space (each entry of each knob, and the resolution, independently).
SubnetConfig randomConfig(const Supernet& net, const std::vector<int>& resolutions, std::mt19937& rng);

/// Validate the package against its family (throws FormatError naming the file and field) and open it.
/// Fills in each operating point's MACs and params.
std::unique_ptr<Supernet> openSupernet(format::Package& package);

}  // namespace dyndnn::nn
