// Global average, max and average pooling on every backend against the reference: kernels 1 to 3, strides 1
// and 2, padding 0 and 1, odd sizes, on the plain input and on a blocked activation.

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"

using dyndnn::engine::Graph;
using dyndnn::engine::Op;
using dyndnn::test::checkBackends;
using dyndnn::test::randomWeight;

namespace {

// The input itself, or the output of a 1x1 convolution (a blocked layout on oneDNN).
int source(Graph& g, int channels, int size, bool blocked) {
  const int x = g.input({1, blocked ? 3 : channels, size, size});
  return blocked ? g.conv2d(x, randomWeight({channels, 3, 1, 1}), at::randn({channels}), 1, 0) : x;
}

}  // namespace

TEST_CASE("global average pool matches the reference", "[ops][pool]") {
  for (bool blocked : {false, true})
    for (const auto& [c, size] : std::vector<std::pair<int, int>>{{7, 1}, {16, 5}, {19, 14}}) {
      Graph g;
      g.setOutput(g.globalAvgPool(source(g, c, size, blocked)));
      checkBackends(g, fmt::format("global avg pool {} ch @{} blocked {}", c, size, blocked), true,
                    size == 1 ? 1e-2 : 1e-3);
    }
}

TEST_CASE("max and average pool match the reference", "[ops][pool]") {
  for (Op op : {Op::MaxPool, Op::AvgPool})
    for (bool blocked : {false, true})
      for (const auto& [k, s, p] : std::vector<std::tuple<int, int, int>>{{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {1, 1, 0}, {3, 3, 0}}) {
        Graph g;
        const int x = source(g, 11, 13, blocked);
        g.setOutput(op == Op::MaxPool ? g.maxPool(x, k, s, p) : g.avgPool(x, k, s, p));
        checkBackends(g, fmt::format("{} k{} s{} p{} blocked {}", dyndnn::engine::opName(op), k, s, p, blocked));
      }
}
