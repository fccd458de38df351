#include "engine/calibrate.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "dyndnn/error.hpp"
#include "engine/reference.hpp"

namespace dyndnn::engine {

BatchNormStats recalibrateBatchNorm(const Graph& g, const std::function<at::Tensor()>& next) {
  struct Sum {
    at::Tensor mean, var;
  };
  std::map<std::string, Sum> sums;
  if (g.optimised())
    throw InvalidArgument("BN recalibration: the graph was already optimised (fused or folded); recalibrate the graph "
                          "as lowered");
  std::int64_t images = 0, batches = 0;
  std::vector<at::Tensor> values(g.nodes().size());
  for (at::Tensor batch = next(); batch.defined(); batch = next()) {
    const auto& expected = g.inputShape();
    if (batch.dim() != static_cast<std::int64_t>(expected.size()) ||
        !std::equal(expected.begin() + 1, expected.end(), batch.sizes().begin() + 1) || batch.size(0) < 1)
      throw InvalidArgument(fmt::format("BN recalibration: batch #{} has shape {}; the graph takes {} with any batch",
                                        batches, shapeText(Shape(batch.sizes().begin(), batch.sizes().end())),
                                        shapeText(expected)));
    const auto n = batch.size(0);
    values[0] = batch;
    for (std::size_t i = 1; i < values.size(); ++i) {
      const auto& node = g.nodes()[i];
      if (node.op != Op::BatchNorm) {
        values[i] = runNodeReference(node, values);
        continue;
      }
      const auto& x = values[static_cast<std::size_t>(node.inputs[0])];
      if (n * x.size(2) * x.size(3) < 2)
        throw InvalidArgument(fmt::format("BN recalibration: node '{}' sees one value per channel in a batch of {}; "
                                          "use batches of several images",
                                          node.name, n));
      const auto mean = x.mean({0, 2, 3});
      const auto var = (x - mean.view({1, -1, 1, 1})).pow(2).mean({0, 2, 3});
      values[i] = at::batch_norm(x, node.weight, node.bias, mean, var, /*training=*/false, 0.0, node.eps,
                                 /*cudnn_enabled=*/false);
      auto& s = sums[node.name];
      const double w = static_cast<double>(n);
      s.mean = s.mean.defined() ? s.mean + mean * w : mean * w;
      s.var = s.var.defined() ? s.var + var * w : var * w;
    }
    images += n;
    ++batches;
  }
  if (images == 0) throw InvalidArgument("BN recalibration: no calibration images");
  BatchNormStats out;
  for (const auto& [name, s] : sums) out.emplace(name, std::make_pair(s.mean / static_cast<double>(images), s.var / static_cast<double>(images)));
  return out;
}

Graph withBatchNormStats(Graph g, const BatchNormStats& stats) {
  std::size_t used = 0;
  for (auto& n : g.nodes()) {
    if (n.op != Op::BatchNorm) continue;
    auto it = stats.find(n.name);
    if (it == stats.end())
      throw InvalidArgument(fmt::format("BN statistics: none for batch_norm node '{}'", n.name));
    const auto& [mean, var] = it->second;
    if (mean.dim() != 1 || var.dim() != 1 || mean.size(0) != n.shape[1] || var.size(0) != n.shape[1])
      throw InvalidArgument(fmt::format("BN statistics of '{}': {} and {} values where the node has {} channels",
                                        n.name, mean.numel(), var.numel(), n.shape[1]));
    n.mean = mean;
    n.var = var;
    ++used;
  }
  if (used != stats.size())
    for (const auto& kv : stats) {
      const std::string& name = kv.first;
      if (std::none_of(g.nodes().begin(), g.nodes().end(),
                       [&name](const Node& n) { return n.op == Op::BatchNorm && n.name == name; }))
        throw InvalidArgument(fmt::format("BN statistics: the graph has no batch_norm node '{}'", name));
    }
  return g;
}

}  // namespace dyndnn::engine
