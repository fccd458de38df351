#include "engine/latency_table.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "dyndnn/error.hpp"
#include "engine/passes.hpp"

namespace dyndnn::engine {
namespace {

// A copy of nodes [first, last] of `g` as a graph whose input is the value of node `input`; the constants the
// nodes read are copied in front.
Graph extract(const Graph& g, int input, int first, int last) {
  Graph out;
  std::vector<int> id(g.nodes().size(), -1);
  id[static_cast<std::size_t>(input)] = out.input(g.node(input).shape);
  auto map = [&](int x) {
    auto& m = id[static_cast<std::size_t>(x)];
    if (m < 0) {
      if (g.node(x).op != Op::Constant)
        throw Error(fmt::format("latency table: segment %{}..%{} reads %{} from outside", first, last, x));
      m = out.append(g.node(x));
    }
    return m;
  };
  for (int i = first; i <= last; ++i) {
    if (g.node(i).op == Op::Constant) continue;  // copied in where a node reads it
    Node n = g.node(i);
    for (auto& x : n.inputs) x = map(x);
    id[static_cast<std::size_t>(i)] = out.append(std::move(n));
  }
  out.setOutput(id[static_cast<std::size_t>(last)]);
  return out;
}

bool computes(const Node& n) { return n.op == Op::Conv2d || n.op == Op::Linear || n.op == Op::MatMul; }

}  // namespace

std::vector<Graph> segments(const Graph& g) {
  if (g.optimised()) throw InvalidArgument("latency table: segment the graph as lowered, not an optimised one");
  const auto last = lastUses(g);
  const int n = static_cast<int>(g.nodes().size());
  // Cut points: nodes after which their own value is the only live one. A stretch without a convolution, linear
  // layer or matmul (a batch norm, an activation, a pool) stays with the stretch before it, so that a layer and
  // what a backend fuses into it (BN folding, activations) are timed together.
  std::vector<std::pair<int, int>> ranges;  // (input value, last node)
  int input = 0;
  bool heavy = false;
  for (int p = 1; p < n; ++p) {
    if (g.node(p).op == Op::Constant) continue;
    // Values computed up to p that a later node (or the output) reads; constants are copied, not live.
    int live = 0, value = -1;
    for (int v = 0; v <= p && live < 2; ++v)
      if (g.node(v).op != Op::Constant && last[static_cast<std::size_t>(v)] > p) {
        ++live;
        value = v;
      }
    heavy = heavy || computes(g.node(p));
    if (p == g.output() || (live == 1 && value == p)) {
      if (heavy || ranges.empty()) ranges.emplace_back(input, p);
      else ranges.back().second = p;
      input = p;
      heavy = false;
      if (p == g.output()) break;
    }
  }
  std::vector<Graph> out;
  for (const auto& [from, to] : ranges) out.push_back(extract(g, from, from + 1, to));
  return out;
}

std::string segmentKey(const Graph& segment) {
  Graph anonymous = segment.skeleton();
  for (auto& n : anonymous.nodes()) n.name.clear();
  return anonymous.text();
}

double LatencyTable::time(const Graph& g) const {
  at::NoGradGuard no_grad;
  useThreads(options_.threads);
  const auto plan = compile(g, at::kCPU, options_.backend);
  const auto x = at::randn(g.inputShape(), at::TensorOptions().dtype(at::kFloat));
  for (int i = 0; i < options_.warmup; ++i) (void)plan->run(x);
  std::vector<double> ms;
  for (int i = 0; i < std::max(1, options_.runs); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    (void)plan->run(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + static_cast<std::ptrdiff_t>(ms.size() / 2), ms.end());
  return ms[ms.size() / 2];
}

int LatencyTable::measure(const Graph& g) {
  int timed = 0;
  for (const auto& s : segments(g)) {
    const auto key = segmentKey(s);
    if (entries_.count(key)) continue;
    entries_[key] = time(s);
    ++timed;
  }
  return timed;
}

double LatencyTable::predict(const Graph& g) const {
  double total = 0.0;
  const auto parts = segments(g);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto it = entries_.find(segmentKey(parts[i]));
    if (it == entries_.end())
      throw InvalidArgument(fmt::format("latency table: segment {} of {} (input {}) has not been measured; measure() "
                                        "the graph first",
                                        i + 1, parts.size(), shapeText(parts[i].inputShape())));
    total += it->second;
  }
  return total;
}

double LatencyTable::measureWhole(const Graph& g) const { return time(g); }

}  // namespace dyndnn::engine
