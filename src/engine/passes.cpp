#include "engine/passes.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace dyndnn::engine {
namespace {

// Every value a node reads: its inputs and its fused sums.
template <typename F>
void forEachRead(const Node& n, F&& f) {
  for (int x : n.inputs) f(x);
  for (const auto& p : n.post)
    if (p.kind == PostOp::Sum) f(p.value);
}

// Rewrites a graph in one sweep: `step` sees each node with its reads already redirected, and either keeps
// it (returns its own id), replaces it by an earlier node (returns that id), or edits an earlier node.
template <typename Step>
Graph rewrite(const Graph& g, Step&& step) {
  Graph out = g;
  auto& nodes = out.nodes();
  std::vector<int> replaced(nodes.size());
  std::vector<int> uses = useCounts(g);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto& n = nodes[i];
    for (auto& x : n.inputs) x = replaced[static_cast<std::size_t>(x)];
    for (auto& p : n.post)
      if (p.kind == PostOp::Sum) p.value = replaced[static_cast<std::size_t>(p.value)];
    const int id = static_cast<int>(i);
    replaced[i] = step(out, id, uses);
    if (replaced[i] != id) uses[static_cast<std::size_t>(replaced[i])] = uses[i];
  }
  out.setOutput(replaced[static_cast<std::size_t>(g.output())]);
  return out;
}

// scale = gamma / sqrt(var + eps), bias' = beta + (bias - mean) * scale, on float vectors: a plain loop (a plan
// build folds dozens of these; as ATen ops each would cost more in dispatch than in arithmetic).
void foldInto(Node& conv, const Node& bn) {
  const auto c = bn.shape[1];
  auto vec = [](const at::Tensor& t) { return t.contiguous().to(at::kFloat); };
  const auto gamma = vec(bn.weight), beta = vec(bn.bias), mean = vec(bn.mean), var = vec(bn.var);
  const auto old_bias = conv.bias.defined() ? vec(conv.bias) : at::Tensor();
  const auto old_scale = conv.scale.defined() ? vec(conv.scale) : at::Tensor();
  auto scale = at::empty({c}, gamma.options()), bias = at::empty({c}, gamma.options());
  const float *g = gamma.data_ptr<float>(), *b = beta.data_ptr<float>(), *m = mean.data_ptr<float>(),
              *v = var.data_ptr<float>();
  float *s = scale.data_ptr<float>(), *out = bias.data_ptr<float>();
  for (std::int64_t i = 0; i < c; ++i) {
    s[i] = static_cast<float>(g[i] / std::sqrt(static_cast<double>(v[i]) + bn.eps));
    out[i] = b[i] + ((old_bias.defined() ? old_bias.data_ptr<float>()[i] : 0.f) - m[i]) * s[i];
    if (old_scale.defined()) s[i] *= old_scale.data_ptr<float>()[i];
  }
  conv.scale = scale;
  conv.bias = bias;
}

bool onlyReader(const std::vector<int>& uses, int producer) { return uses[static_cast<std::size_t>(producer)] == 1; }

}  // namespace

std::vector<int> useCounts(const Graph& g) {
  std::vector<int> uses(g.nodes().size(), 0);
  for (const auto& n : g.nodes()) forEachRead(n, [&](int x) { ++uses[static_cast<std::size_t>(x)]; });
  if (g.output() >= 0) ++uses[static_cast<std::size_t>(g.output())];
  return uses;
}

std::vector<int> lastUses(const Graph& g) {
  std::vector<int> last(g.nodes().size());
  for (std::size_t i = 0; i < last.size(); ++i) last[i] = static_cast<int>(i);
  for (std::size_t i = 0; i < last.size(); ++i)
    forEachRead(g.nodes()[i], [&](int x) { last[static_cast<std::size_t>(x)] = static_cast<int>(i); });
  if (g.output() >= 0) last[static_cast<std::size_t>(g.output())] = static_cast<int>(g.nodes().size());
  return last;
}

Graph foldBatchNorm(const Graph& g) {
  return rewrite(g, [](Graph& out, int id, const std::vector<int>& uses) {
    auto& nodes = out.nodes();
    const auto& bn = nodes[static_cast<std::size_t>(id)];
    if (bn.op != Op::BatchNorm) return id;
    const int conv_id = bn.inputs[0];
    auto& conv = nodes[static_cast<std::size_t>(conv_id)];
    if (conv.op != Op::Conv2d || !conv.post.empty() || !onlyReader(uses, conv_id)) return id;
    foldInto(conv, bn);
    return conv_id;
  });
}

Graph fuse(const Graph& g, ActivationFilter fusable) {
  return rewrite(g, [fusable](Graph& out, int id, const std::vector<int>& uses) {
    auto& nodes = out.nodes();
    const auto& n = nodes[static_cast<std::size_t>(id)];
    if (n.op == Op::Activation) {
      const int p = n.inputs[0];
      auto& producer = nodes[static_cast<std::size_t>(p)];
      const bool takes = producer.op == Op::Conv2d || producer.op == Op::Linear || producer.op == Op::Add ||
                         producer.op == Op::Mul;
      if (!takes || !onlyReader(uses, p) || (fusable != nullptr && !fusable(n.act))) return id;
      producer.post.push_back(PostOp{PostOp::Activation, n.act, -1});
      return p;
    }
    if (n.op == Op::Add && out.node(n.inputs[0]).shape == out.node(n.inputs[1]).shape) {
      // The convolution (or linear) computed later accumulates onto the other operand, which must exist by then.
      for (int side = 0; side < 2; ++side) {
        const int c = n.inputs[static_cast<std::size_t>(side)], other = n.inputs[static_cast<std::size_t>(1 - side)];
        auto& conv = nodes[static_cast<std::size_t>(c)];
        const bool takes = conv.op == Op::Conv2d || conv.op == Op::Linear;
        if (takes && conv.post.empty() && onlyReader(uses, c) && other < c && other != c) {
          conv.post.push_back(PostOp{PostOp::Sum, Act::None, other});
          return c;
        }
      }
    }
    return id;
  });
}

namespace {

// The kernel taps [first, last] along one spatial axis that read the input for some output position; the
// others only ever multiply padding.
std::pair<std::int64_t, std::int64_t> tapsThatReadInput(std::int64_t in, std::int64_t out, const Node& conv) {
  const std::int64_t first = std::max<std::int64_t>(0, conv.pad - (out - 1) * conv.stride);
  const std::int64_t last = std::min<std::int64_t>(conv.kernel - 1, in - 1 + conv.pad);
  return {first, last};
}

}  // namespace

Graph trimPaddingTaps(const Graph& g) {
  Graph out = g;
  for (auto& n : out.nodes()) {
    if (n.op != Op::Conv2d || n.kernel == 1) continue;
    const auto& in = out.node(n.inputs[0]).shape;
    const auto rows = tapsThatReadInput(in[2], n.shape[2], n), cols = tapsThatReadInput(in[3], n.shape[3], n);
    if (rows != cols || rows.second < rows.first) continue;  // one square kernel for both axes, or none at all
    const std::int64_t first = rows.first, kernel = rows.second - rows.first + 1;
    if (kernel == n.kernel) continue;
    const std::int64_t pad = n.pad - first;
    // The node has one padding for both ends: keep the trim only where the far end comes out the same.
    const std::int64_t far_pad = (n.shape[2] - 1) * n.stride + kernel - in[2] - pad;
    if (far_pad != pad) continue;
    n.weight = n.weight.narrow(2, first, kernel).narrow(3, first, kernel);  // still a view: shareable stays
    n.kernel = static_cast<int>(kernel);
    n.pad = static_cast<int>(pad);
  }
  return out;
}

Graph removeDead(const Graph& g) {
  const auto& nodes = g.nodes();
  std::vector<bool> live(nodes.size(), false);
  live[0] = true;  // the input stays, even when a graph ignores it
  live[static_cast<std::size_t>(g.output())] = true;
  for (std::size_t i = nodes.size(); i-- > 0;)
    if (live[i]) forEachRead(nodes[i], [&](int x) { live[static_cast<std::size_t>(x)] = true; });
  Graph out;
  std::vector<int> id(nodes.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!live[i]) continue;
    Node n = nodes[i];
    for (auto& x : n.inputs) x = id[static_cast<std::size_t>(x)];
    for (auto& p : n.post)
      if (p.kind == PostOp::Sum) p.value = id[static_cast<std::size_t>(p.value)];
    id[i] = out.append(std::move(n));
  }
  out.setOutput(id[static_cast<std::size_t>(g.output())]);
  return out;
}

// Dead nodes go after folding too: a folded batch norm still reads its convolution, and fusion counts readers.
Graph optimise(const Graph& g, ActivationFilter fusable) {
  return removeDead(fuse(removeDead(foldBatchNorm(trimPaddingTaps(g))), fusable));
}

BufferPlanner::BufferPlanner(const Graph& g) : last_use_(lastUses(g)) {}

int BufferPlanner::place(int node, std::size_t bytes, int owner) {
  const int until = lastUse(owner >= 0 ? owner : node);
  // Best fit among the free buffers; otherwise grow the largest free one; otherwise a new one.
  int best = -1;
  for (int b = 0; b < static_cast<int>(sizes_.size()); ++b) {
    const auto bi = static_cast<std::size_t>(b);
    if (busy_until_[bi] >= node) continue;
    if (best < 0) {
      best = b;
      continue;
    }
    const auto cur = sizes_[static_cast<std::size_t>(best)];
    const bool fits = sizes_[bi] >= bytes, best_fits = cur >= bytes;
    if ((fits && (!best_fits || sizes_[bi] < cur)) || (!fits && !best_fits && sizes_[bi] > cur)) best = b;
  }
  if (best < 0) {
    sizes_.push_back(0);
    busy_until_.push_back(0);
    best = static_cast<int>(sizes_.size()) - 1;
  }
  const auto bi = static_cast<std::size_t>(best);
  sizes_[bi] = std::max(sizes_[bi], bytes);
  busy_until_[bi] = until;
  return best;
}

void BufferPlanner::share(int node, int buffer) {
  auto& until = busy_until_.at(static_cast<std::size_t>(buffer));
  until = std::max(until, lastUse(node));
}

}  // namespace dyndnn::engine
