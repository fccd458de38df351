#include "nn/group_cnn.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"
#include "nn/checked_tensor.hpp"

namespace dyndnn::nn {
namespace {

using nlohmann::json;

constexpr double kBnEps = 1e-5;  // tools/dyndnn_tools/group_cnn.py: BN_EPS

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw FormatError(fmt::format("{}: {}", where, what));
}

// Bounds keep every size computation far from overflow, whatever a damaged file says.
int intField(const json& j, const char* key, const std::string& where, int min_value, int max_value) {
  if (!j.contains(key) || !j[key].is_number_integer()) bad(where, fmt::format("'{}' must be an integer", key));
  const auto v = j[key].get<std::int64_t>();
  if (v < min_value || v > max_value)
    bad(where, fmt::format("'{}' = {} must be in {}..{}", key, v, min_value, max_value));
  return static_cast<int>(v);
}

constexpr int kMaxWidth = 1 << 20, kMaxWindow = 64, kMaxResolution = 4096;

}  // namespace

GroupCnnArch GroupCnnArch::fromJson(const json& j, const std::string& where) {
  if (!j.is_object()) bad(where, "must be an object");
  GroupCnnArch a;
  a.groups = intField(j, "groups", where, 1, 64);
  a.in_channels = intField(j, "in_channels", where, 1, kMaxWidth);
  a.n_classes = intField(j, "n_classes", where, 1, kMaxWidth);
  a.resolution = intField(j, "resolution", where, 1, kMaxResolution);
  if (!j.contains("connectivity") || !j["connectivity"].is_string())
    bad(where, "'connectivity' must be \"grouped\" or \"triangular\"");
  const auto connectivity = j["connectivity"].get<std::string>();
  if (connectivity != "grouped" && connectivity != "triangular")
    bad(where, fmt::format("'connectivity' = \"{}\": must be \"grouped\" or \"triangular\"", connectivity));
  a.triangular = connectivity == "triangular";
  if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty())
    bad(where, "'layers' must be a non-empty list");
  bool seen_fc = false;
  for (std::size_t i = 0; i < j["layers"].size(); ++i) {
    const auto& l = j["layers"][i];
    const auto at = fmt::format("{}.layers[{}]", where, i);
    if (!l.is_object() || !l.contains("type") || !l["type"].is_string()) bad(at, "'type' must be \"conv\" or \"fc\"");
    GroupCnnLayer layer;
    const auto type = l["type"].get<std::string>();
    if (type != "conv" && type != "fc") bad(at, fmt::format("'type' = \"{}\": must be \"conv\" or \"fc\"", type));
    layer.conv = type == "conv";
    if (layer.conv && seen_fc) bad(at, "a convolution after a fully connected layer");
    seen_fc = seen_fc || !layer.conv;
    if (!l.contains("widths") || !l["widths"].is_array() || l["widths"].size() != static_cast<std::size_t>(a.groups))
      bad(at, fmt::format("'widths' must list the channels of each of the {} groups", a.groups));
    for (const auto& w : l["widths"]) {
      if (!w.is_number_integer() || w.get<std::int64_t>() < 1 || w.get<std::int64_t>() > kMaxWidth)
        bad(at, fmt::format("'widths' entry {} must be an integer in 1..{}", w.dump(), kMaxWidth));
      layer.widths.push_back(w.get<int>());
    }
    if (!a.triangular && std::adjacent_find(layer.widths.begin(), layer.widths.end(), std::not_equal_to<>()) !=
                             layer.widths.end())
      bad(at, fmt::format("'widths' [{}]: grouped connectivity needs equal groups", fmt::join(layer.widths, ", ")));
    if (!l.contains("bn") || !l["bn"].is_boolean()) bad(at, "'bn' must be true or false");
    layer.bn = l["bn"].get<bool>();
    if (layer.conv) {
      layer.kernel = intField(l, "kernel", at, 1, kMaxWindow);
      layer.stride = intField(l, "stride", at, 1, kMaxWindow);
      layer.pad = intField(l, "pad", at, 0, kMaxWindow);
      if (l.contains("pool") && !l["pool"].is_null()) {
        const auto& p = l["pool"];
        if (!p.is_object()) bad(at, "'pool' must be null or {kernel, stride}");
        layer.pool_kernel = intField(p, "kernel", at + ".pool", 1, kMaxWindow);
        layer.pool_stride = intField(p, "stride", at + ".pool", 1, kMaxWindow);
      }
    }
    a.layers.push_back(layer);
  }
  if (!a.layers.front().conv) bad(where, "the first layer must be a convolution (it reads the image)");
  if (a.layers.back().conv) bad(where, "the last layer must be fully connected (the classifier reads its groups)");
  int size = a.resolution;
  for (const auto& l : a.layers) {
    if (!l.conv) break;
    size = (size + 2 * l.pad - l.kernel) / l.stride + 1;
    if (l.pool_kernel) size = (size - l.pool_kernel) / l.pool_stride + 1;
    if (size < 1) bad(where, fmt::format("the layers shrink a {}x{} input to nothing", a.resolution, a.resolution));
  }
  return a;
}

std::vector<int> GroupCnnArch::featureSizes() const {
  std::vector<int> out;
  int size = resolution;
  for (const auto& l : layers) {
    if (!l.conv) break;
    size = (size + 2 * l.pad - l.kernel) / l.stride + 1;
    if (l.pool_kernel) size = (size - l.pool_kernel) / l.pool_stride + 1;
    out.push_back(size);
  }
  return out;
}

std::int64_t GroupCnnArch::spatialFactor(std::size_t index) const {
  if (index == 0 || layers[index].conv || !layers[index - 1].conv) return 1;
  const auto side = featureSizes().back();
  return std::int64_t{side} * side;
}

std::int64_t GroupCnnArch::rows(std::size_t index, int g) const {
  const auto& w = layers[index].widths;
  return std::accumulate(w.begin(), w.begin() + g, std::int64_t{0});
}

std::int64_t GroupCnnArch::columns(std::size_t index, int i) const {
  if (index == 0) return in_channels;
  const auto& prev = layers[index - 1].widths;
  const auto per_channel = spatialFactor(index);
  if (!triangular) return prev[static_cast<std::size_t>(i)] * per_channel;
  return rows(index - 1, i + 1) * per_channel;
}

std::map<std::string, std::vector<std::int64_t>> GroupCnnArch::tensorShapes() const {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const std::int64_t total = rows(i, groups);
    std::vector<std::int64_t> shape{total, columns(i, groups - 1)};
    if (l.conv) shape.insert(shape.end(), {l.kernel, l.kernel});
    out[fmt::format("layers.{}.weight", i)] = shape;
    if (l.bn) {
      for (const char* n : {"weight", "bias", "running_mean", "running_var"}) out[fmt::format("layers.{}.bn.{}", i, n)] = {total};
    } else {
      out[fmt::format("layers.{}.bias", i)] = {total};
    }
  }
  out["classifier.weight"] = {n_classes, rows(layers.size() - 1, groups)};
  out["classifier.bias"] = {groups, n_classes};
  return out;
}

Metrics GroupCnnArch::cost(int g) const {
  std::int64_t macs = 0, params = 0;
  int size = resolution;
  const auto sizes = featureSizes();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    std::int64_t weights = 0;
    for (int k = 0; k < g; ++k) weights += l.widths[static_cast<std::size_t>(k)] * columns(i, k);
    if (l.conv) weights *= l.kernel * l.kernel;
    if (l.conv) {
      const std::int64_t out = (size + 2 * l.pad - l.kernel) / l.stride + 1;
      macs += weights * out * out;
      size = sizes[i];
    } else {
      macs += weights;
    }
    params += weights + (l.bn ? 2 : 1) * rows(i, g);  // BN folds to a scale and a shift
  }
  const std::int64_t classifier = rows(layers.size() - 1, g) * n_classes;
  return Metrics{macs + classifier, params + classifier + n_classes, std::nullopt};
}

GroupCnn::GroupCnn(format::Package& pkg) : arch_(parseArch<GroupCnnArch>(pkg)) {
  const auto& path = pkg.path();
  if (pkg.input.resolutions != std::vector<int>{arch_.resolution})
    failPackage(path, fmt::format("metadata field 'input.resolutions' = [{}]: a group_cnn runs at its one "
                                  "resolution 'arch.resolution' = {}",
                                  fmt::join(pkg.input.resolutions, ", "), arch_.resolution));
  weights_ = checkedWeights(pkg, arch_.tensorShapes(), kGroupCnnFamily);
  for (std::size_t i = 0; i < arch_.layers.size(); ++i) {
    if (!arch_.layers[i].bn) continue;
    const auto name = fmt::format("layers.{}.bn.running_var", i);
    if (!(weights_.at(name) >= 0).all().item<bool>()) failPackage(path, fmt::format("tensor '{}': negative variance", name));
  }
  if (arch_.triangular) {  // the invariant that makes pruning exact, checked rather than trusted
    for (std::size_t i = 1; i < arch_.layers.size(); ++i) {
      const auto name = fmt::format("layers.{}.weight", i);
      const auto& wt = weights_.at(name);
      for (int k = 0; k + 1 < arch_.groups; ++k) {
        const auto cols = arch_.columns(i, k);
        const auto first = arch_.rows(i, k);
        auto above = wt.narrow(0, first, arch_.rows(i, k + 1) - first).narrow(1, cols, wt.size(1) - cols);
        if (above.abs().max().item<float>() != 0.0f)
          failPackage(path, fmt::format("tensor '{}': group {} has non-zero weights on inputs of later groups "
                                        "(columns {} and up); a triangular group_cnn needs them exactly zero, or "
                                        "pruning would change its outputs. Export the package again.",
                                        name, k + 1, cols));
      }
    }
  }
  normaliseOperatingPoints(pkg, *this,
                           "a group_cnn keeps one set of BN statistics (each group's own, frozen after its stage); "
                           "per-point statistics are not used");
  const auto& bias = w("classifier.bias");
  for (int g = 1; g <= arch_.groups; ++g) level_bias_.push_back(bias.narrow(0, 0, g).sum(0).contiguous());
}

SubnetConfig GroupCnn::normalise(const SubnetConfig& c) const {
  for (const auto& kv : c.knobs)
    if (kv.first != "g")
      throw InvalidArgument(fmt::format("config: unknown field '{}' (a group_cnn has 'g', the active groups "
                                        "1..{}, and 'r' = {})",
                                        kv.first, arch_.groups, arch_.resolution));
  if (!c.has("g")) throw InvalidArgument(fmt::format("config: missing field 'g' (active groups, 1..{})", arch_.groups));
  const auto& g = c.at("g");
  if (g.size() != 1 || g[0] < 1 || g[0] > arch_.groups)
    throw InvalidArgument(fmt::format("config field 'g' = [{}]: must be one integer in 1..{}", fmt::join(g, ", "),
                                      arch_.groups));
  if (c.r != 0 && c.r != arch_.resolution)
    throw InvalidArgument(fmt::format("config field 'r' = {} is not a supported resolution (supported: {})", c.r,
                                      arch_.resolution));
  return SubnetConfig{{{"g", {g[0]}}}, arch_.resolution};
}

SubnetConfig GroupCnn::largest() const { return SubnetConfig{{{"g", {arch_.groups}}}, arch_.resolution}; }

engine::Graph GroupCnn::lower(const SubnetConfig& c, int) const {
  const int g = c.at("g").front();
  const auto sizes = arch_.featureSizes();
  engine::Graph graph;
  int x = graph.input({1, arch_.in_channels, arch_.resolution, arch_.resolution});
  for (std::size_t i = 0; i < arch_.layers.size(); ++i) {
    const auto& l = arch_.layers[i];
    const auto p = fmt::format("layers.{}", i);
    const std::int64_t rows = arch_.rows(i, g);
    // Level g's weight is a view of the package: the first g row groups and the columns they read (the whole
    // prefix of g input groups when triangular; grouped layers read one group each, which is what a grouped
    // convolution's [O, I/groups, k, k] weight says).
    auto weight = w(p + ".weight").narrow(0, 0, rows);
    if (arch_.triangular) weight = weight.narrow(1, 0, arch_.columns(i, g - 1));
    if (!l.conv) {
      // A fully connected layer is a convolution whose kernel covers the whole map (the first one reads the
      // last feature map in (channel, row, column) order) or a 1x1 one: the grouped form stays a grouped conv.
      const std::int64_t side = arch_.spatialFactor(i) > 1 ? sizes.back() : 1;
      weight = weight.view({rows, weight.size(1) / (side * side), side, side});
    }
    at::Tensor bias = l.bn ? at::Tensor() : w(p + ".bias").narrow(0, 0, rows);
    x = graph.shareable(graph.conv2d(x, weight, bias, l.conv ? l.stride : 1, l.conv ? l.pad : 0, p));
    if (l.bn)
      x = graph.batchNorm(x, w(p + ".bn.weight").narrow(0, 0, rows), w(p + ".bn.bias").narrow(0, 0, rows),
                          w(p + ".bn.running_mean").narrow(0, 0, rows), w(p + ".bn.running_var").narrow(0, 0, rows),
                          kBnEps, p + ".bn");
    x = graph.activation(x, engine::Act::ReLU);
    if (l.pool_kernel) x = graph.maxPool(x, l.pool_kernel, l.pool_stride, 0);
  }
  const std::int64_t features = arch_.rows(arch_.layers.size() - 1, g);
  x = graph.reshape(x, {1, features});
  // The classifier sums each group's contribution: one linear over the concatenated groups, with the sum of the
  // first g groups' biases (computed once at load, so it outlives the plans like the views do).
  x = graph.shareable(graph.linear(x, w("classifier.weight").narrow(1, 0, features),
                                   level_bias_[static_cast<std::size_t>(g - 1)], "classifier"));
  graph.setOutput(x);
  return graph;
}

}  // namespace dyndnn::nn
