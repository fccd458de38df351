#include "nn/elastic_vit.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "dyndnn/error.hpp"
#include "nn/checked_tensor.hpp"

namespace dyndnn::nn {
namespace {

using engine::Graph;
using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw FormatError(fmt::format("{}: {}", where, what));
}

// Bounds keep every size computation far from overflow, whatever a damaged file says.
constexpr int kMaxWidth = 1 << 14, kMaxDepth = 256, kMaxResolution = 1024;

int intField(const json& j, const char* key, const std::string& where, int min_value, int max_value) {
  if (!j.contains(key) || !j[key].is_number_integer()) bad(where, fmt::format("'{}' must be an integer", key));
  const auto v = j[key].get<std::int64_t>();
  if (v < min_value || v > max_value)
    bad(where, fmt::format("'{}' = {} must be in {}..{}", key, v, min_value, max_value));
  return static_cast<int>(v);
}

std::vector<int> choices(const json& j, const char* key, const std::string& where, int max_value) {
  if (!j.contains(key) || !j[key].is_array() || j[key].empty())
    bad(where, fmt::format("'{}' must be a non-empty list of integers", key));
  std::vector<int> out;
  for (const auto& v : j[key]) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > max_value)
      bad(where, fmt::format("'{}' entry {} must be an integer in 1..{}", key, v.dump(), max_value));
    out.push_back(v.get<int>());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool allowed(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

ElasticVitArch ElasticVitArch::fromJson(const json& j, const std::string& where) {
  if (!j.is_object()) bad(where, "must be an object");
  ElasticVitArch a;
  a.in_channels = intField(j, "in_channels", where, 1, 64);
  a.n_classes = intField(j, "n_classes", where, 1, 1 << 20);
  a.resolution = intField(j, "resolution", where, 1, kMaxResolution);
  a.patch = intField(j, "patch", where, 1, kMaxResolution);
  if (a.resolution % a.patch != 0)
    bad(where, fmt::format("'resolution' = {} is not a multiple of 'patch' = {}", a.resolution, a.patch));
  a.head_dim = intField(j, "head_dim", where, 1, kMaxWidth);
  a.widths = choices(j, "widths", where, kMaxWidth);
  a.depths = choices(j, "depths", where, kMaxDepth);
  a.heads = choices(j, "heads", where, 256);
  a.mlp_widths = choices(j, "mlp_widths", where, kMaxWidth);
  if (std::int64_t{a.heads.back()} * a.head_dim > kMaxWidth)
    bad(where, fmt::format("{} heads of {} make an attention width over {}", a.heads.back(), a.head_dim, kMaxWidth));
  if (!j.contains("ln_eps") || !j["ln_eps"].is_number() || !(j["ln_eps"].get<double>() > 0))
    bad(where, "'ln_eps' must be a positive number");
  a.ln_eps = j["ln_eps"].get<double>();
  return a;
}

std::map<std::string, std::vector<std::int64_t>> ElasticVitArch::tensorShapes() const {
  const std::int64_t c = widths.back(), a = std::int64_t{heads.back()} * head_dim, m = mlp_widths.back();
  std::map<std::string, std::vector<std::int64_t>> out{{"patch.weight", {c, in_channels, patch, patch}},
                                                       {"patch.bias", {c}},
                                                       {"pos", {tokens(), c}},
                                                       {"norm.weight", {c}},
                                                       {"norm.bias", {c}},
                                                       {"head.weight", {n_classes, c}},
                                                       {"head.bias", {n_classes}}};
  for (int i = 0; i < maxDepth(); ++i) {
    const auto b = fmt::format("blocks.{}.", i);
    for (const char* n : {"ln1", "ln2"}) out[b + n + ".weight"] = out[b + n + ".bias"] = {c};
    for (const char* n : {"q", "k", "v"}) {
      out[b + "attn." + n + ".weight"] = {a, c};
      out[b + "attn." + n + ".bias"] = {a};
    }
    out[b + "attn.proj.weight"] = {c, a};
    out[b + "attn.proj.bias"] = {c};
    out[b + "mlp.fc1.weight"] = {m, c};
    out[b + "mlp.fc1.bias"] = {m};
    out[b + "mlp.fc2.weight"] = {c, m};
    out[b + "mlp.fc2.bias"] = {c};
  }
  return out;
}

Metrics ElasticVitArch::cost(const SubnetConfig& cfg) const {
  const std::int64_t t = tokens(), c = cfg.at("w").front(), depth = cfg.at("d").front();
  std::int64_t macs = t * c * in_channels * patch * patch;
  std::int64_t params = c * in_channels * patch * patch + c + t * c;
  for (std::int64_t i = 0; i < depth; ++i) {
    const std::int64_t a = std::int64_t{cfg.at("h")[static_cast<std::size_t>(i)]} * head_dim;
    const std::int64_t m = cfg.at("m")[static_cast<std::size_t>(i)];
    macs += 3 * t * c * a + 2 * t * t * a + t * a * c + 2 * t * c * m;
    params += 4 * c + 3 * (a * c + a) + c * a + c + 2 * m * c + m + c;
  }
  return Metrics{macs + c * n_classes, params + 2 * c + c * n_classes + n_classes, std::nullopt};
}

ElasticVit::ElasticVit(format::Package& pkg) : arch_(parseArch<ElasticVitArch>(pkg)) {
  const auto& path = pkg.path();
  if (pkg.input.resolutions != std::vector<int>{arch_.resolution})
    failPackage(path, fmt::format("metadata field 'input.resolutions' = [{}]: an elastic_vit runs at its one "
                                  "resolution 'arch.resolution' = {}",
                                  fmt::join(pkg.input.resolutions, ", "), arch_.resolution));
  weights_ = checkedWeights(pkg, arch_.tensorShapes(), kElasticVitFamily);
  normaliseOperatingPoints(pkg, *this, "has BN statistics, but an elastic_vit has no batch norm");
  const int side = arch_.resolution / arch_.patch;
  for (int c : arch_.widths) pos_[c] = w("pos").narrow(1, 0, c).t().reshape({1, c, side, side}).contiguous();
}

SubnetConfig ElasticVit::normalise(const SubnetConfig& c) const {
  const std::map<std::string, const std::vector<int>*> knobs{
      {"d", &arch_.depths}, {"w", &arch_.widths}, {"h", &arch_.heads}, {"m", &arch_.mlp_widths}};
  for (const auto& kv : c.knobs)
    if (!knobs.count(kv.first))
      throw InvalidArgument(
          fmt::format("config: unknown field '{}' (an elastic_vit has 'd' depth, 'w' embedding "
                      "width, 'h' heads and 'm' MLP width per block, and 'r' = {})",
                      kv.first, arch_.resolution));
  SubnetConfig out;
  for (const auto& [key, choices] : knobs) {
    if (!c.has(key))
      throw InvalidArgument(
          fmt::format("config: missing field '{}' (allowed values [{}])", key, fmt::join(*choices, ", ")));
    auto v = c.at(key);
    const std::size_t n = key == "d" || key == "w" ? 1 : static_cast<std::size_t>(arch_.maxDepth());
    if (v.size() == 1) v.assign(n, v.front());
    if (v.size() != n)
      throw InvalidArgument(fmt::format("config field '{}': {} values, expected 1 or {}", key, v.size(), n));
    for (int x : v)
      if (!allowed(*choices, x))
        throw InvalidArgument(
            fmt::format("config field '{}' = {}: allowed values [{}]", key, x, fmt::join(*choices, ", ")));
    out.knobs[key] = std::move(v);
  }
  if (c.r != 0 && c.r != arch_.resolution)
    throw InvalidArgument(
        fmt::format("config field 'r' = {} is not a supported resolution (supported: {})", c.r, arch_.resolution));
  out.r = arch_.resolution;
  return out;
}

SubnetConfig ElasticVit::largest() const {
  return normalise(SubnetConfig{{{"d", {arch_.depths.back()}},
                                 {"w", {arch_.widths.back()}},
                                 {"h", {arch_.heads.back()}},
                                 {"m", {arch_.mlp_widths.back()}}},
                                arch_.resolution});
}

engine::Graph ElasticVit::lower(const SubnetConfig& cfg, int) const {
  const std::int64_t c = cfg.at("w").front(), t = arch_.tokens(), dh = arch_.head_dim;
  const int side = arch_.resolution / arch_.patch;
  Graph g;
  // Every weight is a view of the package: the first rows (outputs) and columns (inputs) of the largest's.
  auto view = [&](const std::string& name, std::int64_t rows, std::int64_t cols = 0) {
    auto v = w(name).narrow(0, 0, rows);
    return cols ? v.narrow(1, 0, cols) : v;
  };
  auto linear = [&](int x, const std::string& name, std::int64_t rows, std::int64_t cols) {
    return g.shareable(g.linear(x, view(name + ".weight", rows, cols), view(name + ".bias", rows), name));
  };
  auto layerNorm = [&](int x, const std::string& name) {
    return g.layerNorm(x, view(name + ".weight", c), view(name + ".bias", c), arch_.ln_eps, name);
  };
  int x = g.input({1, arch_.in_channels, arch_.resolution, arch_.resolution});
  // the constant first: the fusion pass then makes the addition the patch convolution's sum post-op
  const int pos = g.constant(pos_.at(static_cast<int>(c)), "pos");
  x = g.shareable(g.conv2d(x, view("patch.weight", c), view("patch.bias", c), arch_.patch, 0, "patch"));
  x = g.add(x, pos);
  x = g.transpose(g.reshape(x, {1, c, t}), {0, 2, 1});  // [1, T, c]: token = row-major patch
  for (int i = 0; i < cfg.at("d").front(); ++i) {
    const auto p = fmt::format("blocks.{}.", i);
    const std::int64_t h = cfg.at("h")[static_cast<std::size_t>(i)], a = h * dh;
    const std::int64_t m = cfg.at("m")[static_cast<std::size_t>(i)];
    const int y = layerNorm(x, p + "ln1");
    auto heads = [&](const char* n) {  // [1, T, a] -> [1, h, T, dh]
      return g.transpose(g.reshape(linear(y, p + "attn." + n, a, c), {1, t, h, dh}), {0, 2, 1, 3});
    };
    const int q = heads("q"), k = heads("k"), v = heads("v");  // the package's q carries dh^-0.5
    const int att = g.softmax(g.matmul(q, k, /*transpose_b=*/true, p + "attn.scores"), 3);
    const int o = g.reshape(g.transpose(g.matmul(att, v, false, p + "attn.values"), {0, 2, 1, 3}), {1, t, a});
    x = g.add(x, linear(o, p + "attn.proj", c, a));
    const int hidden = g.activation(linear(layerNorm(x, p + "ln2"), p + "mlp.fc1", m, c), engine::Act::GELU);
    x = g.add(x, linear(hidden, p + "mlp.fc2", c, m));
  }
  // mean over the tokens: back to [1, c, side, side], global average pool
  x = layerNorm(x, "norm");
  x = g.globalAvgPool(g.reshape(g.transpose(x, {0, 2, 1}), {1, c, side, side}));
  x = g.shareable(g.linear(g.reshape(x, {1, c}), view("head.weight", arch_.n_classes, c), w("head.bias"), "head"));
  g.setOutput(x);
  return g;
}

}  // namespace dyndnn::nn
