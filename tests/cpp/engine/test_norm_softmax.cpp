// Layer norm, softmax and batch norm that is not folded (after something other than a convolution) on every
// backend against the reference.

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::test::checkBackends;
using dyndnn::test::randomWeight;

TEST_CASE("layer norm over the last dimension matches the reference", "[ops][norm]") {
  for (const auto& [tokens, dim] : std::vector<std::pair<int, int>>{{1, 8}, {17, 64}, {50, 13}}) {
    Graph g;
    const int x = g.input({1, tokens, dim});
    g.setOutput(g.layerNorm(x, at::rand({dim}) + 0.5, at::randn({dim}), 1e-6));
    checkBackends(g, fmt::format("layer norm {} x {}", tokens, dim));
  }
  Graph g;  // 2-D, after a linear
  const int x = g.input({1, 40});
  g.setOutput(g.layerNorm(g.linear(x, randomWeight({24, 40}), at::randn({24})), at::rand({24}), at::randn({24}), 1e-5));
  checkBackends(g, "layer norm after linear");
}

TEST_CASE("softmax over any non-batch axis matches the reference", "[ops][softmax]") {
  for (int axis : {-1, 1, 2}) {
    Graph g;
    const int x = g.input({1, 6, 11, 5});
    g.setOutput(g.softmax(x, axis));
    checkBackends(g, fmt::format("softmax axis {}", axis));
  }
  Graph g;  // on a blocked activation: the backend reorders it to plain first
  int x = g.input({1, 3, 4, 4});
  x = g.conv2d(x, randomWeight({10, 3, 3, 3}), at::randn({10}), 1, 1);
  g.setOutput(g.softmax(x, 1));
  checkBackends(g, "softmax over channels of a conv output");
}

TEST_CASE("batch norm that is not folded matches the reference", "[ops][norm]") {
  for (bool blocked : {false, true}) {
    Graph g;
    int x = g.input({1, blocked ? 3 : 7, 6, 6});
    if (blocked) x = g.conv2d(x, randomWeight({7, 3, 1, 1}), at::randn({7}), 1, 0);
    x = g.activation(x, Act::ReLU6);  // between the convolution and the batch norm: nothing to fold into
    g.setOutput(g.batchNorm(x, at::rand({7}) + 0.5, at::randn({7}), at::randn({7}), at::rand({7}) + 0.1, 1e-5));
    checkBackends(g, fmt::format("batch norm after relu6, blocked {}", blocked));
  }
}
