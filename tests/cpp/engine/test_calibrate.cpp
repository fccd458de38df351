// BN recalibration on the op graph (engine/calibrate.hpp) against ATen's own train-mode batch norm written out
// by hand: per-batch statistics of every BN's input, with each BN normalising by them, averaged over batches of
// unequal size by their sizes.

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "engine/calibrate.hpp"
#include "engine/passes.hpp"
#include "engine/reference.hpp"
#include "fixtures.hpp"
#include "op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using Catch::Matchers::Contains;

namespace {

struct Net {
  at::Tensor w1 = dyndnn::test::randomWeight({8, 3, 3, 3}), w2 = dyndnn::test::randomWeight({6, 8, 1, 1});
  at::Tensor g1 = at::rand({8}) + 0.5, b1 = at::randn({8}), g2 = at::rand({6}) + 0.5, b2 = at::randn({6});
  at::Tensor head = dyndnn::test::randomWeight({4, 6});

  // The BN statistics stored in the graph are deliberately wrong: recalibration must not read them.
  Graph graph() const {
    Graph g;
    int y = g.conv2d(g.input({1, 3, 10, 10}), w1, at::Tensor(), 2, 1, "c1");
    y = g.activation(g.batchNorm(y, g1, b1, at::full({8}, 7.0), at::full({8}, 9.0), 1e-5, "c1.bn"), Act::ReLU);
    y = g.batchNorm(g.conv2d(y, w2, at::Tensor(), 1, 0, "c2"), g2, b2, at::zeros({6}), at::ones({6}), 1e-5, "c2.bn");
    g.setOutput(g.linear(g.reshape(g.globalAvgPool(y), {1, 6}), head, at::Tensor()));
    return g;
  }

  // The same network with ATen's train-mode batch norm: the statistics of each BN's input for one batch.
  std::pair<at::Tensor, at::Tensor> batchStats(const at::Tensor& x, int layer) const {
    auto stats = [](const at::Tensor& t) {
      return std::make_pair(t.mean({0, 2, 3}), t.var({0, 2, 3}, /*unbiased=*/false));
    };
    const auto z1 = at::conv2d(x, w1, {}, 2, 1);
    if (layer == 1) return stats(z1);
    const auto y1 = at::relu(at::batch_norm(z1, g1, b1, {}, {}, /*training=*/true, 0.1, 1e-5, false));
    return stats(at::conv2d(y1, w2));
  }
};

// Feeds the batches in turn, then the end.
std::function<at::Tensor()> feed(std::vector<at::Tensor> batches) {
  return [batches = std::move(batches), i = std::size_t{0}]() mutable {
    return i < batches.size() ? batches[i++] : at::Tensor();
  };
}

}  // namespace

TEST_CASE("BN recalibration: per-batch statistics of each BN's input, normalised by them, averaged by batch size",
          "[calibrate]") {
  at::manual_seed(31);
  const Net net;
  const auto a = at::randn({4, 3, 10, 10}), b = at::randn({2, 3, 10, 10}) * 2.0 + 1.0;
  const auto stats = dyndnn::engine::recalibrateBatchNorm(net.graph(), feed({a, b}));
  REQUIRE(stats.size() == 2);
  for (int layer : {1, 2}) {
    INFO("layer " << layer);
    const auto [ma, va] = net.batchStats(a, layer);
    const auto [mb, vb] = net.batchStats(b, layer);
    const auto& [mean, var] = stats.at(layer == 1 ? "c1.bn" : "c2.bn");
    CHECK(dyndnn::test::relativeError(mean, (ma * 4 + mb * 2) / 6) <= 1e-5);
    CHECK(dyndnn::test::relativeError(var, (va * 4 + vb * 2) / 6) <= 1e-5);
    // The statistics come from the data: another data set gives others (the first layer's, before any
    // normalisation; later ones see normalised input by design).
    if (layer == 1) CHECK(dyndnn::test::relativeError(mean, ma) > 1e-2);
  }
}

TEST_CASE("BN recalibration: the statistics it measures are what the graph then runs with", "[calibrate]") {
  at::manual_seed(33);
  const Net net;
  const auto a = at::randn({6, 3, 10, 10});
  const auto g = dyndnn::engine::withBatchNormStats(net.graph(), dyndnn::engine::recalibrateBatchNorm(net.graph(), feed({a})));
  // One batch: eval-mode BN with its statistics is train-mode BN on that batch, which ATen computes itself.
  const auto y1 = at::relu(at::batch_norm(at::conv2d(a, net.w1, {}, 2, 1), net.g1, net.b1, {}, {}, true, 0.1, 1e-5, false));
  const auto z = at::batch_norm(at::conv2d(y1, net.w2), net.g2, net.b2, {}, {}, true, 0.1, 1e-5, false);
  const auto want = at::linear(z.mean({2, 3}), net.head);
  CHECK(dyndnn::test::relativeError(dyndnn::engine::runReference(g, a), want) <= 1e-5);
  CHECK(dyndnn::test::relativeError(dyndnn::engine::runReference(net.graph(), a), want) > 1e-2);  // stats mattered

  auto stats = dyndnn::engine::recalibrateBatchNorm(net.graph(), feed({a}));
  stats.erase("c2.bn");
  CHECK_THROWS_WITH(dyndnn::engine::withBatchNormStats(net.graph(), stats), Contains("none for batch_norm node 'c2.bn'"));
  stats["c2.bn"] = {at::zeros({5}), at::ones({5})};
  CHECK_THROWS_WITH(dyndnn::engine::withBatchNormStats(net.graph(), stats), Contains("5 and 5 values") && Contains("6 channels"));
  stats["c2.bn"] = {at::zeros({6}), at::ones({6})};
  stats["c9.bn"] = {at::zeros({6}), at::ones({6})};
  CHECK_THROWS_WITH(dyndnn::engine::withBatchNormStats(net.graph(), stats), Contains("no batch_norm node 'c9.bn'"));
}

TEST_CASE("BN recalibration: refuses what it cannot calibrate, saying why", "[calibrate]") {
  at::manual_seed(32);
  const Net net;
  const auto g = net.graph();
  CHECK_THROWS_WITH(dyndnn::engine::recalibrateBatchNorm(g, feed({})), Contains("no calibration images"));
  CHECK_THROWS_WITH(dyndnn::engine::recalibrateBatchNorm(g, feed({at::randn({2, 3, 10, 10}), at::randn({2, 1, 10, 10})})),
                    Contains("batch #1") && Contains("[2,1,10,10]") && Contains("[1,3,10,10]"));
  CHECK_THROWS_WITH(dyndnn::engine::recalibrateBatchNorm(dyndnn::engine::optimise(g), feed({at::randn({2, 3, 10, 10})})),
                    Contains("already optimised"));
  Graph tiny;
  tiny.setOutput(tiny.batchNorm(tiny.input({1, 2, 1, 1}), at::ones({2}), at::zeros({2}), at::zeros({2}), at::ones({2}),
                                1e-5, "only.bn"));
  CHECK_THROWS_WITH(dyndnn::engine::recalibrateBatchNorm(tiny, feed({at::randn({1, 2, 1, 1})})),
                    Contains("'only.bn'") && Contains("several images"));
}
