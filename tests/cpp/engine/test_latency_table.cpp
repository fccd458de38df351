// The latency lookup table's graph side (engine/latency_table.hpp): a graph is cut where one activation is live,
// the segments run one after another compute exactly what the graph computes, identical layers share a key
// whatever their weights and names, and a prediction is the sum of the measured entries. (What the prediction
// is worth against whole-network latency is a measurement: benchmarks/run_latency_table.py.)

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <set>

#include "dyndnn/error.hpp"
#include "engine/latency_table.hpp"
#include "engine/passes.hpp"
#include "engine/reference.hpp"
#include "fixtures.hpp"
#include "op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using Catch::Matchers::Contains;

namespace {

// Residual blocks with squeeze-excite (values live across the block: no cut inside), then a pooled head.
// A constant made at the start and read at the end must not stop the cuts between.
Graph blocks(int count) {
  using dyndnn::test::randomWeight;
  Graph g;
  int x = g.conv2d(g.input({1, 3, 12, 12}), randomWeight({8, 3, 3, 3}), at::Tensor(), 1, 1, "stem");
  const int offset = g.constant(at::randn({1, 8, 1, 1}), "offset");
  for (int b = 0; b < count; ++b) {
    const auto name = "block" + std::to_string(b);
    int y = g.activation(g.conv2d(x, randomWeight({8, 1, 3, 3}), at::randn({8}), 1, 1, name + ".dw"), Act::ReLU);
    const int se = g.activation(g.globalAvgPool(y), Act::HSigmoid);
    y = g.conv2d(g.mul(y, se), randomWeight({8, 8, 1, 1}), at::Tensor(), 1, 0, name + ".pw");
    x = g.add(x, y);
  }
  x = g.add(g.globalAvgPool(x), offset);
  g.setOutput(g.linear(g.reshape(x, {1, 8}), randomWeight({5, 8}), at::randn({5}), "head"));
  return g;
}

}  // namespace

TEST_CASE("latency table: segments cut where one activation is live and compose to the graph", "[latency]") {
  at::manual_seed(41);
  const Graph g = blocks(3);
  const auto parts = dyndnn::engine::segments(g);
  // stem, block, block, the last block with the pool, add and reshape after it (no layer of their own: they stay
  // with the stretch before), the linear head
  REQUIRE(parts.size() == 5);
  const auto x = at::randn({2, 3, 12, 12});
  at::Tensor y = x;
  for (const auto& s : parts) y = dyndnn::engine::runReference(s, y);
  const auto want = dyndnn::engine::runReference(g, x);
  CHECK(dyndnn::test::relativeError(y, want) == 0.0);
  CHECK(dyndnn::test::relativeError(dyndnn::engine::runReference(g, at::randn({2, 3, 12, 12})), want) > 1e-2);
  CHECK(parts[3].nodes().front().shape == std::vector<std::int64_t>{1, 8, 12, 12});
  CHECK(parts.back().nodes().front().shape == std::vector<std::int64_t>{1, 8});
  // The segment that adds the constant got its own copy of it.
  int constants = 0;
  for (const auto& n : parts[3].nodes()) constants += n.op == dyndnn::engine::Op::Constant;
  CHECK(constants == 1);
  // The first two blocks: other weights, other names, one key.
  std::set<std::string> keys;
  for (const auto& s : parts) keys.insert(dyndnn::engine::segmentKey(s));
  CHECK(keys.size() == 4);
  CHECK(dyndnn::engine::segmentKey(parts[1]) == dyndnn::engine::segmentKey(parts[2]));
  CHECK_THROWS_WITH(dyndnn::engine::segments(dyndnn::engine::optimise(g)), Contains("as lowered"));
}

TEST_CASE("latency table: distinct segments are timed once and predictions sum them", "[latency]") {
  at::manual_seed(42);
  dyndnn::engine::LatencyTableOptions o;
  o.warmup = 1;
  o.runs = 3;
  dyndnn::engine::LatencyTable table(o);
  const Graph three = blocks(3);
  CHECK_THROWS_WITH(table.predict(three), Contains("segment 1 of 5") && Contains("measure()"));
  CHECK(table.measure(three) == 4);
  CHECK(table.size() == 4);
  CHECK(table.measure(blocks(5)) == 0);  // more of the same blocks: nothing new to time
  double sum = 0.0;
  for (const auto& s : dyndnn::engine::segments(three)) sum += table.entries().at(dyndnn::engine::segmentKey(s));
  CHECK(table.predict(three) == Approx(sum));
  CHECK(table.predict(blocks(5)) > table.predict(three));  // two more blocks' worth
  CHECK(table.predict(three) > 0.0);
  CHECK(table.measureWhole(three) > 0.0);
}
