#pragma once
// Backend-neutral passes over the op graph, and the buffer planner backends use to share activation memory.

#include <cstddef>
#include <vector>

#include "engine/graph.hpp"

namespace dyndnn::engine {

/// BatchNorm after a Conv2d whose value nothing else reads becomes the convolution's per-output-channel weight
/// scale and its bias (s = gamma / sqrt(var + eps), b' = beta + (b - mean) * s); the weights stay views into
/// the package and backends apply the scale as they pack them (oneDNN in the same reorder), so folding costs
/// no pass over the weights. A BatchNorm elsewhere stays a node (a per-channel scale and shift).
Graph foldBatchNorm(const Graph& g);

/// Moves into the node before it, when nothing else reads that node's value: an Activation after Conv2d,
/// Linear, Add or Mul; an Add of two same-shaped values into the Conv2d or Linear that produced one of them (the
/// residual sum, before any activation); chains of these (conv + sum + relu, conv + linear + clip).
/// `fusable` says which activations a backend takes fused (all when null).
using ActivationFilter = bool (*)(Act);
Graph fuse(const Graph& g, ActivationFilter fusable = nullptr);

/// A Conv2d whose kernel is larger than its input plus padding (a 7x7 depthwise kernel on the 2x2 maps at the
/// end of a small-input network) keeps only the taps that ever read the input, with the padding cut to match:
/// the same output from fewer multiply-accumulates, and oneDNN's depthwise kernels, which refuse a padding
/// wider than their output row, apply again (before, its reference loop: the shipped model's level7 took 13.5
/// instead of 0.59 ms on one thread, dyndnn bench). The weight stays a view (narrowed). Applied where the
/// trimmed kernel is square with equal padding at both ends.
Graph trimPaddingTaps(const Graph& g);

/// Drops nodes the output does not depend on and renumbers the rest (order kept).
Graph removeDead(const Graph& g);

/// trimPaddingTaps, foldBatchNorm, fuse, removeDead: what every backend compiles.
Graph optimise(const Graph& g, ActivationFilter fusable = nullptr);

/// For each node, the last node that reads its value (including fused sums); the output is read "after the
/// end" (nodes().size()); a value nobody reads has its own id.
std::vector<int> lastUses(const Graph& g);
/// How many nodes read each value (fused sums count; the output counts once more).
std::vector<int> useCounts(const Graph& g);

/// Assigns activation values to a small set of reusable buffers by liveness: a buffer is free again once
/// the last reader of the value it holds has run. Backends call it in node order.
class BufferPlanner {
 public:
  explicit BufferPlanner(const Graph& g);
  /// A buffer for a value written by `node` that must stay until the last use of `owner`'s value (its own by
  /// default; a backend's private copy of a value lives as long as the value). Grown to `bytes` if needed.
  int place(int node, std::size_t bytes, int owner = -1);
  /// `node`'s value lives in `buffer` too (in place, or a view): the buffer stays taken until its last use.
  void share(int node, int buffer);
  int lastUse(int node) const { return last_use_.at(static_cast<std::size_t>(node)); }
  const std::vector<std::size_t>& sizes() const { return sizes_; }

 private:
  std::vector<int> last_use_;
  std::vector<std::size_t> sizes_;
  std::vector<int> busy_until_;  // per buffer: the last node that reads what it holds
};

}  // namespace dyndnn::engine
