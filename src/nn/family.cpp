#include "nn/family.hpp"

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "nn/elastic_mbv3.hpp"
#include "nn/elastic_vit.hpp"
#include "nn/group_cnn.hpp"
#include "nn/static_graph.hpp"

namespace dyndnn::nn {

std::unique_ptr<Supernet> openSupernet(format::Package& package) {
  if (package.family == kOfaMbv3Family) return std::make_unique<ElasticMbv3>(package);
  if (package.family == kGroupCnnFamily) return std::make_unique<GroupCnn>(package);
  if (package.family == kElasticVitFamily) return std::make_unique<ElasticVit>(package);
  if (package.family == kStaticGraphFamily) return std::make_unique<StaticGraph>(package);
  throw FormatError(fmt::format("{}: metadata field 'family': unknown family '{}' (this build knows: {}, {}, {}, {})",
                                package.path(), package.family, kOfaMbv3Family, kGroupCnnFamily, kElasticVitFamily,
                                kStaticGraphFamily));
}

SubnetConfig randomConfig(const Supernet& net, const std::vector<int>& resolutions, std::mt19937& rng) {
  auto pick = [&rng](const std::vector<int>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  SubnetConfig c;
  for (const auto& k : net.searchSpace())
    for (int j = 0; j < k.count; ++j) c.knobs[k.name].push_back(pick(k.choices));
  c.r = pick(resolutions);
  return net.normalise(c);
}

std::vector<SubnetConfig> uniformConfigs(const Supernet& net, const std::vector<int>& resolutions) {
  std::vector<SubnetConfig> out;
  for (int r : resolutions) {
    std::vector<SubnetConfig> partial{SubnetConfig{{}, r}};
    for (const auto& knob : net.searchSpace()) {
      std::vector<SubnetConfig> next;
      for (const auto& c : partial)
        for (int v : knob.choices) {
          auto d = c;
          d.knobs[knob.name] = std::vector<int>(static_cast<std::size_t>(knob.count), v);
          next.push_back(std::move(d));
        }
      partial = std::move(next);
    }
    for (auto& c : partial) out.push_back(net.normalise(c));
  }
  return out;
}

}  // namespace dyndnn::nn
