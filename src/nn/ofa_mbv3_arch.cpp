#include "nn/ofa_mbv3_arch.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"

namespace dyndnn::nn {
namespace {

using nlohmann::json;

Act parseAct(const json& j, const std::string& where) {
  const auto s = j.is_string() ? j.get<std::string>() : std::string();
  if (s == "relu") return Act::ReLU;
  if (s == "h_swish") return Act::HSwish;
  throw FormatError(fmt::format("{}: unknown activation {} (known: \"relu\", \"h_swish\")", where, j.dump()));
}

const json& need(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key))
    throw FormatError(fmt::format("{}: missing field '{}'", where, key));
  return obj.at(key);
}

int positiveInt(const json& j, const std::string& where, int max_value = 1 << 16) {
  if (!j.is_number_integer() || j.get<std::int64_t>() < 1 || j.get<std::int64_t>() > max_value)
    throw FormatError(fmt::format("{}: {} is not an integer in 1..{}", where, j.dump(), max_value));
  return j.get<int>();
}

std::vector<int> choiceList(const json& j, const std::string& where, int max_value) {
  if (!j.is_array() || j.empty()) throw FormatError(fmt::format("{}: must be a non-empty list", where));
  std::vector<int> out;
  for (const auto& v : j) out.push_back(positiveInt(v, where, max_value));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double optionalNumber(const json& j, const char* key, double fallback, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_number()) throw FormatError(fmt::format("{}.{}: {} is not a number", where, key, it->dump()));
  return it->get<double>();
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

int makeDivisible(double v, int divisor) {
  int new_v = std::max(divisor, static_cast<int>(v + divisor / 2.0) / divisor * divisor);
  if (new_v < 0.9 * v) new_v += divisor;
  return new_v;
}

int midChannels(int in, int expand_ratio) { return makeDivisible(static_cast<double>(in) * expand_ratio); }
int seChannels(int mid) { return makeDivisible(mid / 4); }

ArchSpec ArchSpec::fromJson(const json& j, const std::string& where) {
  if (!j.is_object()) throw FormatError(where + ": must be an object");
  ArchSpec a;
  a.in_channels = positiveInt(need(j, "in_channels", where), where + ".in_channels", 64);
  a.n_classes = positiveInt(need(j, "n_classes", where), where + ".n_classes", 1 << 20);
  a.width_mult = optionalNumber(j, "width_mult", 1.0, where);
  const auto& stem = need(j, "stem", where);
  a.stem_width = positiveInt(need(stem, "width", where + ".stem"), where + ".stem.width");
  a.stem_stride = positiveInt(need(stem, "stride", where + ".stem"), where + ".stem.stride", 4);
  a.stem_act = parseAct(need(stem, "act", where + ".stem"), where + ".stem.act");
  const auto& fb = need(j, "first_block", where);
  a.first_block_width = positiveInt(need(fb, "width", where + ".first_block"), where + ".first_block.width");
  a.first_block_act = parseAct(need(fb, "act", where + ".first_block"), where + ".first_block.act");
  const auto& stages = need(j, "stages", where);
  if (!stages.is_array() || stages.empty() || stages.size() > 16)
    throw FormatError(fmt::format("{}.stages: must be a list of 1..16 stages", where));
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto w = fmt::format("{}.stages[{}]", where, i);
    StageSpec s;
    s.width = positiveInt(need(stages[i], "width", w), w + ".width");
    s.stride = positiveInt(need(stages[i], "stride", w), w + ".stride", 4);
    s.act = parseAct(need(stages[i], "act", w), w + ".act");
    const auto& se = need(stages[i], "se", w);
    if (!se.is_boolean()) throw FormatError(w + ".se: must be true or false");
    s.se = se.get<bool>();
    a.stages.push_back(s);
  }
  a.final_expand = positiveInt(need(j, "final_expand", where), where + ".final_expand");
  a.feature_mix = positiveInt(need(j, "feature_mix", where), where + ".feature_mix");
  a.ks_list = choiceList(need(j, "ks_list", where), where + ".ks_list", 15);
  for (int k : a.ks_list)
    if (k % 2 == 0) throw FormatError(fmt::format("{}.ks_list: kernel size {} must be odd", where, k));
  a.expand_ratio_list = choiceList(need(j, "expand_ratio_list", where), where + ".expand_ratio_list", 16);
  a.depth_list = choiceList(need(j, "depth_list", where), where + ".depth_list", 16);
  a.bn_eps = optionalNumber(j, "bn_eps", 1e-5, where);
  if (!(a.bn_eps > 0.0 && a.bn_eps < 1.0)) throw FormatError(where + ".bn_eps: must be in (0, 1)");
  return a;
}

ArchSpec ArchSpec::ofaMbv3(double width_mult, int n_classes, int in_channels) {
  const int base[] = {16, 16, 24, 40, 80, 112, 160, 960, 1280};
  const int strides[] = {2, 2, 2, 1, 2};
  const Act acts[] = {Act::ReLU, Act::ReLU, Act::HSwish, Act::HSwish, Act::HSwish};
  const bool se[] = {false, true, false, true, true};
  auto w = [&](int i) { return makeDivisible(base[i] * width_mult); };
  ArchSpec a;
  a.in_channels = in_channels;
  a.n_classes = n_classes;
  a.width_mult = width_mult;
  a.stem_width = w(0);
  a.first_block_width = w(1);
  for (int i = 0; i < 5; ++i) a.stages.push_back({w(2 + i), strides[i], acts[i], se[i]});
  a.final_expand = w(7);
  a.feature_mix = w(8);
  a.ks_list = {3, 5, 7};
  a.expand_ratio_list = {3, 4, 6};
  a.depth_list = {2, 3, 4};
  return a;
}

std::vector<BlockGeometry> ArchSpec::blocks() const {
  std::vector<BlockGeometry> out;
  int feature = first_block_width;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    for (int i = 0; i < maxDepth(); ++i) {
      BlockGeometry b;
      b.in = feature;
      b.out = stages[s].width;
      b.stride = i == 0 ? stages[s].stride : 1;
      b.max_mid = midChannels(feature, expand_ratio_list.back());
      b.stage = static_cast<int>(s);
      b.act = stages[s].act;
      b.se = stages[s].se;
      b.residual = b.stride == 1 && b.in == b.out;
      out.push_back(b);
      feature = b.out;
    }
  }
  return out;
}

std::vector<std::pair<int, int>> ArchSpec::transformPairs() const {
  std::vector<std::pair<int, int>> out;
  for (std::size_t i = ks_list.size() - 1; i > 0; --i) out.emplace_back(ks_list[i], ks_list[i - 1]);
  return out;
}

std::map<std::string, std::vector<std::int64_t>> ArchSpec::tensorShapes() const {
  std::map<std::string, std::vector<std::int64_t>> s;
  auto bn = [&](const std::string& layer, std::int64_t c) {
    for (const char* p : {"weight", "bias", "running_mean", "running_var"}) s[layer + ".bn." + p] = {c};
  };
  s["first_conv.weight"] = {stem_width, in_channels, 3, 3};
  bn("first_conv", stem_width);
  s["blocks.0.depth_conv.weight"] = {stem_width, 1, 3, 3};
  bn("blocks.0.depth_conv", stem_width);
  s["blocks.0.point_linear.weight"] = {first_block_width, stem_width, 1, 1};
  bn("blocks.0.point_linear", first_block_width);
  const int kmax = ks_list.back();
  const auto geometry = blocks();
  for (std::size_t i = 0; i < geometry.size(); ++i) {
    const auto& b = geometry[i];
    const auto p = fmt::format("blocks.{}", i + 1);
    s[p + ".inverted_bottleneck.weight"] = {b.max_mid, b.in, 1, 1};
    bn(p + ".inverted_bottleneck", b.max_mid);
    s[p + ".depth_conv.weight"] = {b.max_mid, 1, kmax, kmax};
    for (auto [src, dst] : transformPairs())
      s[fmt::format("{}.depth_conv.{}to{}_matrix", p, src, dst)] = {dst * dst, dst * dst};
    bn(p + ".depth_conv", b.max_mid);
    if (b.se) {
      const int se = seChannels(b.max_mid);
      s[p + ".se.reduce.weight"] = {se, b.max_mid, 1, 1};
      s[p + ".se.reduce.bias"] = {se};
      s[p + ".se.expand.weight"] = {b.max_mid, se, 1, 1};
      s[p + ".se.expand.bias"] = {b.max_mid};
    }
    s[p + ".point_linear.weight"] = {b.out, b.max_mid, 1, 1};
    bn(p + ".point_linear", b.out);
  }
  s["final_expand_layer.weight"] = {final_expand, stages.back().width, 1, 1};
  bn("final_expand_layer", final_expand);
  s["feature_mix_layer.weight"] = {feature_mix, final_expand, 1, 1};
  s["classifier.weight"] = {n_classes, feature_mix};
  s["classifier.bias"] = {n_classes};
  return s;
}

std::string ArchSpec::normalise(const SubnetConfig& c, const std::vector<int>& resolutions,
                                SubnetConfig& out) const {
  auto expand = [](const std::vector<int>& v, std::size_t n, const std::vector<int>& allowed, const char* name,
                   std::vector<int>& dst) -> std::string {
    if (v.size() == 1) {
      dst.assign(n, v[0]);
    } else if (v.size() == n) {
      dst = v;
    } else {
      return fmt::format("config field '{}' has {} values; this supernet needs {} (or one to broadcast)", name,
                         v.size(), n);
    }
    for (std::size_t i = 0; i < dst.size(); ++i)
      if (!contains(allowed, dst[i]))
        return fmt::format("config field '{}'[{}] = {} is not one of [{}]", name, i, dst[i], fmt::join(allowed, ", "));
    return {};
  };
  for (const char* key : {"ks", "e", "d"})
    if (!c.has(key))
      return fmt::format("config: missing field '{}' (OFA's dict form has ks, e, d and r)", key);
  for (const auto& kv : c.knobs)
    if (kv.first != "ks" && kv.first != "e" && kv.first != "d")
      return fmt::format("config: unknown field '{}' (OFA MobileNetV3 expects ks, e, d, r)", kv.first);
  if (c.r == 0) return "config: missing field 'r' (OFA's dict form has ks, e, d and r)";
  SubnetConfig n;
  const auto blocks_n = static_cast<std::size_t>(numElasticBlocks());
  if (auto e = expand(c.at("ks"), blocks_n, ks_list, "ks", n.knobs["ks"]); !e.empty()) return e;
  if (auto e = expand(c.at("e"), blocks_n, expand_ratio_list, "e", n.knobs["e"]); !e.empty()) return e;
  if (auto e = expand(c.at("d"), stages.size(), depth_list, "d", n.knobs["d"]); !e.empty()) return e;
  if (!contains(resolutions, c.r))
    return fmt::format("config field 'r' = {} is not a supported resolution (supported: {})", c.r,
                       fmt::join(resolutions, ", "));
  n.r = c.r;
  out = std::move(n);
  return {};
}

std::map<std::string, int> ArchSpec::bnLayers(const SubnetConfig& c) const {
  const auto &d = c.at("d"), &e = c.at("e");
  std::map<std::string, int> out{{"first_conv", stem_width},
                                 {"blocks.0.depth_conv", stem_width},
                                 {"blocks.0.point_linear", first_block_width},
                                 {"final_expand_layer", final_expand}};
  const auto geometry = blocks();
  for (std::size_t s = 0; s < stages.size(); ++s) {
    for (int j = 0; j < d[s]; ++j) {
      const auto i = s * maxDepth() + j;
      const int mid = midChannels(geometry[i].in, e[i]);
      const auto p = fmt::format("blocks.{}", i + 1);
      out[p + ".inverted_bottleneck"] = mid;
      out[p + ".depth_conv"] = mid;
      out[p + ".point_linear"] = geometry[i].out;
    }
  }
  return out;
}

Metrics ArchSpec::cost(const SubnetConfig& c) const {
  const auto &d = c.at("d"), &e = c.at("e"), &ks = c.at("ks");
  std::int64_t macs = 0, params = 0;
  auto conv = [&](std::int64_t cin, std::int64_t cout, std::int64_t k, std::int64_t groups, std::int64_t hw,
                  bool bn, bool bias) {
    const std::int64_t w = cout * (cin / groups) * k * k;
    macs += w * hw * hw;
    params += w + (bn ? 2 * cout : 0) + (bias ? cout : 0);
  };
  auto down = [](std::int64_t size, int stride) { return (size + stride - 1) / stride; };
  std::int64_t size = down(c.r, stem_stride);
  conv(in_channels, stem_width, 3, 1, size, true, false);
  conv(stem_width, stem_width, 3, stem_width, size, true, false);
  conv(stem_width, first_block_width, 1, 1, size, true, false);
  const auto geometry = blocks();
  for (std::size_t s = 0; s < stages.size(); ++s) {
    for (int j = 0; j < d[s]; ++j) {
      const auto i = s * maxDepth() + j;
      const auto& b = geometry[i];
      const int mid = midChannels(b.in, e[i]);
      conv(b.in, mid, 1, 1, size, true, false);
      size = down(size, b.stride);
      conv(mid, mid, ks[i], mid, size, true, false);
      if (b.se) {
        conv(mid, seChannels(mid), 1, 1, 1, false, true);
        conv(seChannels(mid), mid, 1, 1, 1, false, true);
      }
      conv(mid, b.out, 1, 1, size, true, false);
    }
  }
  conv(stages.back().width, final_expand, 1, 1, size, true, false);
  conv(final_expand, feature_mix, 1, 1, 1, false, false);
  macs += std::int64_t{feature_mix} * n_classes;
  params += std::int64_t{feature_mix} * n_classes + n_classes;
  return Metrics{macs, params, std::nullopt};
}

}  // namespace dyndnn::nn
