// Every family's search space (nn::Supernet::searchSpace): the knobs a config has, whose values combine freely;
// random configs drawn from it normalise to themselves, its largest values make the largest sub-network, and the
// configs drawn differ in cost (the space is not a single point).

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "engine/latency_table.hpp"
#include "fixtures.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

namespace {

using dyndnn::nn::randomConfig;

void checkSpace(const std::string& stem) {
  INFO(stem);
  auto package = dyndnn::format::Package::open(dyndnn::test::fixture(stem + ".dyn"));
  const auto net = dyndnn::nn::openSupernet(package);
  const auto space = net->searchSpace();
  REQUIRE_FALSE(space.empty());
  std::mt19937 rng(7);
  std::set<std::int64_t> macs;
  for (int i = 0; i < 30; ++i) {
    const auto c = randomConfig(*net, package.input.resolutions, rng);  // normalised: throws if one is invalid
    for (const auto& k : space) CHECK(c.at(k.name).size() == static_cast<std::size_t>(k.count));
    CHECK(net->normalise(c) == c);
    macs.insert(net->cost(c).macs);
  }
  CHECK(macs.size() > 1);
  dyndnn::SubnetConfig top;
  for (const auto& k : space) top.knobs[k.name] = std::vector<int>(static_cast<std::size_t>(k.count), k.choices.back());
  top.r = package.input.resolutions.back();
  CHECK(net->normalise(top) == net->largest());
  CHECK(net->searchSpace().size() == net->largest().knobs.size());

  std::size_t product = package.input.resolutions.size();
  for (const auto& k : space) product *= k.choices.size();
  const auto uniform = dyndnn::nn::uniformConfigs(*net, package.input.resolutions);
  CHECK(uniform.size() == product);
  CHECK(std::find(uniform.begin(), uniform.end(), net->largest()) != uniform.end());
}

}  // namespace

TEST_CASE("search space: every family's knobs combine freely and span its sub-networks", "[search]") {
  for (const auto* stem : {"fmnist", "ofa_w1.2", "group_cnn_tri", "vit_small"}) checkSpace(stem);
}

TEST_CASE("search space: a latency table over the uniform configs predicts every random sub-network", "[search]") {
  for (const auto* stem : {"fmnist", "vit_small"}) {
    INFO(stem);
    auto package = dyndnn::format::Package::open(dyndnn::test::fixture(std::string(stem) + ".dyn"));
    const auto net = dyndnn::nn::openSupernet(package);
    dyndnn::engine::LatencyTableOptions o;
    o.warmup = 0;
    o.runs = 1;
    dyndnn::engine::LatencyTable table(o);
    for (const auto& c : dyndnn::nn::uniformConfigs(*net, package.input.resolutions)) table.measure(net->lower(c));
    const auto covered = table.size();
    std::mt19937 rng(8);
    for (int i = 0; i < 20; ++i) {
      const auto g = net->lower(randomConfig(*net, package.input.resolutions, rng));
      CHECK(table.measure(g) == 0);  // nothing new: every layer was among the uniform configs'
      CHECK(table.predict(g) > 0.0);
    }
    CHECK(table.size() == covered);
  }
}
