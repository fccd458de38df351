#include "nn/elastic_mbv3.hpp"

#include <ATen/ATen.h>

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"
#include "nn/checked_tensor.hpp"

namespace dyndnn::nn {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) { failPackage(path, what); }

}  // namespace

ElasticMbv3::ElasticMbv3(format::Package& pkg)
    : arch_(parseArch<ArchSpec>(pkg)), resolutions_(pkg.input.resolutions) {
  const auto& path = pkg.path();  // the family was checked by openSupernet(), the one place that dispatches on it

  std::set<std::string> known;
  for (const auto& [name, shape] : arch_.tensorShapes()) {
    weights_[name] = checkedTensor(pkg, name, shape, "supernet weight");
    known.insert(name);
  }
  for (const auto& name : {std::string("first_conv"), std::string("final_expand_layer")})
    if (!(weights_.at(name + ".bn.running_var") >= 0).all().item<bool>())
      fail(path, fmt::format("tensor '{}.bn.running_var': negative variance", name));

  for (std::size_t i = 0; i < pkg.operating_points.size(); ++i) {
    auto& op = pkg.operating_points[i];
    const auto err = arch_.normalise(op.config, resolutions_, op.config);
    if (!err.empty()) fail(path, fmt::format("operating point '{}': {}", op.name, err));
    const auto cost = arch_.cost(op.config);
    op.metrics.macs = cost.macs;
    op.metrics.params = cost.params;
    BnStats stats;
    if (op.has_bn_stats) {
      for (const auto& [layer, channels] : arch_.bnLayers(op.config)) {
        auto mean_name = format::Package::bnStatName(i, layer, "running_mean");
        auto var_name = format::Package::bnStatName(i, layer, "running_var");
        auto role = fmt::format("BN statistics of operating point '{}'", op.name);
        auto mean = checkedTensor(pkg, mean_name, {channels}, role);
        auto var = checkedTensor(pkg, var_name, {channels}, role);
        if (!(var >= 0).all().item<bool>()) fail(path, fmt::format("tensor '{}': negative variance", var_name));
        stats.emplace(layer, std::make_pair(mean, var));
        known.insert(mean_name);
        known.insert(var_name);
      }
    }
    op_stats_.push_back(std::move(stats));
  }
  for (const auto& e : pkg.file.entries())
    if (!known.count(e.name))
      fail(path, fmt::format("unexpected tensor '{}': not part of the '{}' architecture or of an operating point's "
                             "BN statistics",
                             e.name, kOfaMbv3Family));
  // Every smaller kernel of every block, transformed once for all channels (the transform is per channel, so a
  // sub-network's kernel is a slice of it): plans then never run the transform, and their depthwise weights
  // are views like all the others (a few MB for w1.0).
  const auto geometry = arch_.blocks();
  for (std::size_t i = 0; i < geometry.size(); ++i)
    for (int k : arch_.ks_list)
      if (k < arch_.ks_list.back())
        kernels_[{static_cast<int>(i) + 1, k}] = transformedKernel(static_cast<int>(i) + 1, geometry[i].max_mid, k);
}

SubnetConfig ElasticMbv3::normalise(const SubnetConfig& c) const {
  SubnetConfig out;
  auto err = arch_.normalise(c, resolutions_, out);
  if (!err.empty()) throw InvalidArgument(err);
  return out;
}

const at::Tensor& ElasticMbv3::w(const std::string& name) const { return weights_.at(name); }

SubnetConfig ElasticMbv3::largest() const {
  return normalise(SubnetConfig{
      {{"ks", {arch_.ks_list.back()}}, {"e", {arch_.expand_ratio_list.back()}}, {"d", {arch_.depth_list.back()}}},
      resolutions_.back()});
}

namespace {

engine::Act graphAct(Act a) {
  switch (a) {
    case Act::ReLU: return engine::Act::ReLU;
    case Act::HSwish: return engine::Act::HSwish;
    case Act::None: break;
  }
  return engine::Act::None;
}

}  // namespace

int ElasticMbv3::convBnAct(engine::Graph& g, int x, at::Tensor weight, const std::string& layer, int c, int stride,
                           Act act, const BnStats* stats) const {
  const int k = static_cast<int>(weight.size(-1));
  // Every weight is a slice of the package or of the transformed kernels, which live as long as the supernet:
  // a backend may pack it once for all the plans that use the same slice.
  int y = g.shareable(g.conv2d(x, std::move(weight), {}, stride, k / 2, layer));
  auto it = stats ? stats->find(layer) : BnStats::const_iterator{};
  const bool own = stats && it != stats->end();
  y = g.batchNorm(y, w(layer + ".bn.weight").narrow(0, 0, c), w(layer + ".bn.bias").narrow(0, 0, c),
                  own ? it->second.first : w(layer + ".bn.running_mean").narrow(0, 0, c),
                  own ? it->second.second : w(layer + ".bn.running_var").narrow(0, 0, c), arch_.bn_eps, layer + ".bn");
  return act == Act::None ? y : g.activation(y, graphAct(act));
}

at::Tensor ElasticMbv3::activeKernel(int block, int channels, int kernel) const {
  if (kernel == arch_.ks_list.back())
    return w(fmt::format("blocks.{}.depth_conv.weight", block)).narrow(0, 0, channels);
  return kernels_.at({block, kernel}).narrow(0, 0, channels);
}

at::Tensor ElasticMbv3::transformedKernel(int block, int channels, int kernel) const {
  const auto prefix = fmt::format("blocks.{}.depth_conv", block);
  at::Tensor filter = w(prefix + ".weight").narrow(0, 0, channels);
  for (auto [src, dst] : arch_.transformPairs()) {
    if (src <= kernel) break;
    const int start = (src - dst) / 2;
    auto crop = filter.narrow(2, start, dst).narrow(3, start, dst).reshape({channels, dst * dst});
    // OFA applies the matrix as F.linear: flat_kernel @ matrix^T.
    filter = at::matmul(crop, w(fmt::format("{}.{}to{}_matrix", prefix, src, dst)).t()).reshape({channels, 1, dst, dst});
  }
  return filter.contiguous();
}

engine::Graph ElasticMbv3::lower(const SubnetConfig& c, int operating_point) const {
  const BnStats* stats = operating_point >= 0 && !op_stats_.at(static_cast<std::size_t>(operating_point)).empty()
                             ? &op_stats_[static_cast<std::size_t>(operating_point)]
                             : nullptr;
  const auto &ks = c.at("ks"), &e = c.at("e"), &d = c.at("d");
  engine::Graph g;
  int x = g.input({1, arch_.in_channels, c.r, c.r});
  x = convBnAct(g, x, w("first_conv.weight"), "first_conv", arch_.stem_width, arch_.stem_stride, arch_.stem_act, stats);
  {  // the first block: depthwise + projection, no expansion
    int y = convBnAct(g, x, w("blocks.0.depth_conv.weight"), "blocks.0.depth_conv", arch_.stem_width, 1,
                      arch_.first_block_act, stats);
    y = convBnAct(g, y, w("blocks.0.point_linear.weight"), "blocks.0.point_linear", arch_.first_block_width, 1,
                  Act::None, stats);
    x = arch_.stem_width == arch_.first_block_width ? g.add(y, x) : y;
  }
  const auto geometry = arch_.blocks();
  for (std::size_t s = 0; s < arch_.stages.size(); ++s) {
    for (int j = 0; j < d[s]; ++j) {
      const auto i = s * arch_.maxDepth() + j;
      const auto& b = geometry[i];
      const int block = static_cast<int>(i) + 1;
      const auto p = fmt::format("blocks.{}", block);
      const int mid = midChannels(b.in, e[i]);
      int y = convBnAct(g, x, w(p + ".inverted_bottleneck.weight").narrow(0, 0, mid), p + ".inverted_bottleneck", mid,
                        1, b.act, stats);
      y = convBnAct(g, y, activeKernel(block, mid, ks[i]), p + ".depth_conv", mid, b.stride, b.act, stats);
      if (b.se) {  // squeeze-excite: pooled, reduced (ReLU), expanded (hard sigmoid), multiplied back
        const int se = seChannels(mid);
        int s_ = g.globalAvgPool(y);
        s_ = g.shareable(g.conv2d(s_, w(p + ".se.reduce.weight").narrow(0, 0, se).narrow(1, 0, mid),
                                  w(p + ".se.reduce.bias").narrow(0, 0, se), 1, 0, p + ".se.reduce"));
        s_ = g.activation(s_, engine::Act::ReLU);
        s_ = g.shareable(g.conv2d(s_, w(p + ".se.expand.weight").narrow(0, 0, mid).narrow(1, 0, se),
                                  w(p + ".se.expand.bias").narrow(0, 0, mid), 1, 0, p + ".se.expand"));
        s_ = g.activation(s_, engine::Act::HSigmoid);
        y = g.mul(y, s_);
      }
      y = convBnAct(g, y, w(p + ".point_linear.weight").narrow(1, 0, mid), p + ".point_linear", b.out, 1, Act::None,
                    stats);
      x = b.residual ? g.add(y, x) : y;
    }
  }
  x = convBnAct(g, x, w("final_expand_layer.weight"), "final_expand_layer", arch_.final_expand, 1, Act::HSwish, stats);
  x = g.globalAvgPool(x);
  x = g.shareable(g.conv2d(x, w("feature_mix_layer.weight"), {}, 1, 0, "feature_mix_layer"));
  x = g.activation(x, engine::Act::HSwish);
  x = g.reshape(x, {1, arch_.feature_mix});
  x = g.shareable(g.linear(x, w("classifier.weight"), w("classifier.bias"), "classifier"));
  g.setOutput(x);
  return g;
}

}  // namespace dyndnn::nn
