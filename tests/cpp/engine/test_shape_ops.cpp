// reshape, transpose, slice and concat on every backend against the reference, on plain values and on blocked
// convolution outputs (which the oneDNN backend must reorder, or read as they are where it can).

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::engine::Shape;
using dyndnn::test::checkBackends;
using dyndnn::test::randomWeight;

namespace {

int blockedConv(Graph& g, int x, int in, int out) {
  return g.conv2d(x, randomWeight({out, in, 3, 3}), at::randn({out}), 1, 1);
}

}  // namespace

TEST_CASE("reshape of plain and blocked values matches the reference", "[ops][shape]") {
  for (bool blocked : {false, true}) {
    Graph g;
    int x = g.input({1, blocked ? 2 : 12, 4, 5});
    if (blocked) x = blockedConv(g, x, 2, 12);
    // patches to tokens, as a ViT's embedding does: [1, C, H, W] -> [1, C, HW] -> [1, HW, C]
    x = g.transpose(g.reshape(x, {1, 12, 20}), {0, 2, 1});
    g.setOutput(g.activation(g.reshape(x, {1, 240}), Act::GELU));
    checkBackends(g, fmt::format("reshape/transpose, blocked {}", blocked));
  }
  Graph g;  // a reshape as the output
  const int x = g.input({1, 3, 4});
  g.setOutput(g.reshape(g.activation(x, Act::ReLU6), {1, 12}));
  checkBackends(g, "reshape as output");
}

TEST_CASE("transpose with every permutation of three axes matches the reference", "[ops][shape]") {
  for (const Shape& perm : std::vector<Shape>{{0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2},
                                              {0, 3, 2, 1}}) {
    Graph g;
    const int x = g.input({1, 3, 5, 7});
    g.setOutput(g.transpose(g.activation(x, Act::Sigmoid), perm));
    checkBackends(g, "transpose " + dyndnn::engine::shapeText(perm));
  }
}

TEST_CASE("slice along each axis matches the reference", "[ops][shape]") {
  for (int axis : {1, 2, 3}) {
    for (const auto& [start, length] : std::vector<std::pair<int, int>>{{0, 1}, {2, 3}, {1, 5}}) {
      for (bool blocked : {false, true}) {
        Graph g;
        int x = g.input({1, blocked ? 2 : 6, 6, 6});
        if (blocked) x = blockedConv(g, x, 2, 6);
        g.setOutput(g.slice(x, axis, start, length));
        checkBackends(g, fmt::format("slice axis {} [{}:{}] blocked {}", axis, start, start + length, blocked), true,
                      5e-3);
      }
    }
  }
}

TEST_CASE("concat along channels and along the last axis matches the reference", "[ops][shape]") {
  for (int axis : {1, 3}) {
    Graph g;
    const int x = g.input({1, 4, 5, 5});
    const int a = blockedConv(g, x, 4, 3), b = g.activation(x, Act::HSwish), c = blockedConv(g, x, 4, 7);
    if (axis == 1) {
      g.setOutput(g.concat({a, b, c}, 1));
    } else {
      g.setOutput(g.concat({g.slice(a, 1, 0, 2), g.slice(c, 1, 1, 2)}, axis));
    }
    checkBackends(g, fmt::format("concat axis {}", axis));
  }
  Graph g;  // a class token before the patch tokens
  const int x = g.input({1, 9, 8});
  g.setOutput(g.concat({g.slice(g.activation(x, Act::GELU), 1, 4, 1), x}, 1));
  checkBackends(g, "concat of tokens");
}
