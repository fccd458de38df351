// Elementwise add and multiply (same shapes and broadcast, either operand broadcast), every activation on its
// own, and the fusions into add and multiply, on every backend against the reference; plain (3-D) and
// blocked (after a convolution) values; the squeeze-excite pattern as the OFA family lowers it.

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::test::checkBackends;
using dyndnn::test::randomWeight;

namespace {

const std::vector<Act> kActs = {Act::ReLU, Act::ReLU6, Act::HSwish, Act::HSigmoid, Act::Sigmoid, Act::GELU};

}  // namespace

TEST_CASE("every activation on its own matches the reference", "[ops][activation]") {
  for (Act act : kActs) {
    for (bool blocked : {false, true}) {
      Graph g;
      int x = g.input({1, blocked ? 3 : 5, 7, 9});
      if (blocked) x = g.conv2d(x, randomWeight({13, 3, 3, 3}), at::randn({13}), 1, 1);
      // read twice, so the activation cannot be fused into the convolution and runs as its own op
      const int y = g.activation(x, act);
      g.setOutput(blocked ? g.add(y, x) : y);
      checkBackends(g, fmt::format("{} on its own, blocked {}", dyndnn::engine::actName(act), blocked));
    }
  }
}

TEST_CASE("add and mul, same shape and broadcast, plain and blocked, match the reference", "[ops][binary]") {
  for (bool mul : {false, true}) {
    for (bool blocked : {false, true}) {
      for (bool broadcast_first : {false, true}) {
        Graph g;
        int x = g.input({1, blocked ? 3 : 6, 5, 7});
        if (blocked) x = g.conv2d(x, randomWeight({6, 3, 1, 1}), at::randn({6}), 1, 0);
        const int s = g.activation(g.globalAvgPool(x), Act::Sigmoid);  // [1, 6, 1, 1]
        const int y = broadcast_first ? (mul ? g.mul(s, x) : g.add(s, x)) : (mul ? g.mul(x, s) : g.add(x, s));
        const int z = g.activation(x, Act::HSwish);
        g.setOutput(mul ? g.mul(y, z) : g.add(y, z));  // same shapes
        checkBackends(g, fmt::format("{} blocked {} broadcast first {}", mul ? "mul" : "add", blocked, broadcast_first));
      }
    }
  }
}

TEST_CASE("add and mul on 3-D values with broadcast over tokens match the reference", "[ops][binary]") {
  Graph g;
  const int x = g.input({1, 9, 16});
  const int cls = g.slice(x, 1, 0, 1);  // [1, 1, 16] broadcast over the 9 tokens
  g.setOutput(g.mul(g.add(x, cls), g.activation(x, Act::GELU)));
  checkBackends(g, "token broadcast");
}

TEST_CASE("add + activation and mul + activation, fused, match the reference", "[ops][binary][fusion]") {
  for (Act act : kActs) {
    Graph g;
    const int x = g.input({1, 4, 6, 6});
    const int a = g.activation(g.add(x, g.activation(x, Act::Sigmoid)), act);
    g.setOutput(g.activation(g.mul(a, x), act));
    checkBackends(g, std::string("add/mul + ") + dyndnn::engine::actName(act));
  }
}

TEST_CASE("squeeze-excite as the OFA family lowers it matches the reference", "[ops][binary][fusion]") {
  for (int c : {8, 72, 13}) {
    Graph g;
    int x = g.input({1, 3, 10, 10});
    x = g.activation(g.conv2d(x, randomWeight({c, 3, 3, 3}), at::randn({c}), 2, 1), Act::HSwish);
    const int se = std::max(1, c / 4);
    int s = g.globalAvgPool(x);
    s = g.activation(g.conv2d(s, randomWeight({se, c, 1, 1}), at::randn({se}), 1, 0), Act::ReLU);
    s = g.activation(g.conv2d(s, randomWeight({c, se, 1, 1}), at::randn({c}), 1, 0), Act::HSigmoid);
    x = g.mul(x, s);
    g.setOutput(g.conv2d(x, randomWeight({5, c, 1, 1}), at::Tensor(), 1, 0));
    checkBackends(g, fmt::format("SE on {} channels", c));
  }
}

TEST_CASE("constants added and multiplied, alone, broadcast and fused into a convolution, match the reference",
          "[ops][binary][constant]") {
  for (bool first : {false, true}) {
    // a positional embedding: the patch convolution's output plus a constant of the same shape (the fusion
    // pass makes it the convolution's sum post-op), then a per-channel constant scale broadcast over the map
    Graph g;
    const int x = g.input({1, 2, 8, 8});
    const int c = g.conv2d(x, randomWeight({6, 2, 2, 2}), at::randn({6}), 2, 0);
    const int pos = g.constant(at::randn({1, 6, 4, 4}), "pos");
    const int scale = g.constant(at::randn({1, 6, 1, 1}), "scale");
    const int y = first ? g.add(pos, c) : g.add(c, pos);
    g.setOutput(first ? g.mul(scale, y) : g.mul(y, scale));
    checkBackends(g, fmt::format("constants on a convolution, constant first {}", first));
  }
  Graph g;  // tokens [1, T, C] plus a [1, T, C] constant, read by an op that is not elementwise as well
  const int x = g.input({1, 5, 8});
  const int pos = g.constant(at::randn({1, 5, 8}));
  // and constants read through views: transposed, reshaped, sliced
  const int t = g.transpose(g.constant(at::randn({1, 8, 5})), {0, 2, 1});
  const int r = g.reshape(g.constant(at::randn({1, 40})), {1, 5, 8});
  const int s = g.slice(g.constant(at::randn({1, 5, 10})), 2, 1, 8);
  const int views = g.add(g.add(t, r), s);
  g.setOutput(g.add(g.add(g.add(x, pos), g.layerNorm(pos, at::randn({8}), at::randn({8}), 1e-5)), views));
  checkBackends(g, "token constant");
}

TEST_CASE("a constant whose first dimension is not the batch is refused", "[ops][constant]") {
  Graph g;
  g.input({1, 3});
  CHECK_THROWS_WITH(g.constant(at::randn({2, 3})), Catch::Contains("batch (1)"));
}
