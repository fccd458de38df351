#pragma once
// A per-layer latency lookup table measured by the engine itself, as Dynamic-OFA predicts a sub-network's latency
// on a device from per-operator tables: a graph is cut into segments where a single activation is live (between
// the blocks of a CNN, between the layers of a transformer), every distinct segment is compiled and timed once
// (warm-up, repeats, median), and a sub-network's latency is predicted as the sum over its segments. Identical
// layers (same ops, attributes and shapes, whatever their weights) share one entry, so a table measured on a few
// sub-networks predicts the others. The sum leaves out what crossing a segment boundary saves in one plan (layout
// conversions, one call instead of many): `dyndnn search` refines predictions with whole-network measurements.

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/execution_plan.hpp"
#include "engine/graph.hpp"

namespace dyndnn::engine {

/// The graph cut where one activation is live (constants do not count: a segment gets its own copy of those it
/// reads); each segment is a graph whose input is that activation. Concatenating the segments computes `g`.
std::vector<Graph> segments(const Graph& g);

/// What determines a segment's latency: its ops, attributes and shapes, without names or weights.
std::string segmentKey(const Graph& segment);

struct LatencyTableOptions {
  Backend backend = Backend::Auto;
  int threads = 1;
  int warmup = 3, runs = 15;
};

class LatencyTable {
 public:
  explicit LatencyTable(LatencyTableOptions options = {}) : options_(options) {}

  /// Times every segment of `g` that the table does not hold yet (compiled for the CPU with the options'
  /// backend, on random input, on the calling thread's OpenMP team sized to the options' threads); returns how
  /// many were timed.
  int measure(const Graph& g);
  /// Sum of the table's entries over the segments of `g`, in ms; throws InvalidArgument naming the first segment
  /// it has not measured.
  double predict(const Graph& g) const;
  /// Median latency of `g` as one plan (the same options), in ms: what predictions are checked against.
  double measureWhole(const Graph& g) const;

  std::size_t size() const { return entries_.size(); }
  const std::map<std::string, double>& entries() const { return entries_; }
  const LatencyTableOptions& options() const { return options_; }
  /// Entries as read back from a file (no check that they were measured with these options).
  void insert(const std::string& key, double ms) { entries_[key] = ms; }

 private:
  double time(const Graph& g) const;

  LatencyTableOptions options_;
  std::map<std::string, double> entries_;
};

}  // namespace dyndnn::engine
