// The channel-group CNN's pruning invariant, through the library: level g of a G-group network computes exactly
// what the stage-g network (only the first g groups exist) computes, and no weight of a group > g changes it.
// The packages come from tools/dyndnn_tools/random_group_cnn.py (random weights).

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include "dyndnn/dyndnn.hpp"
#include "fixtures.hpp"

using dyndnn::SubnetConfig;
using dyndnn::test::fixture;

namespace {

SubnetConfig level(int g) { return SubnetConfig{{{"g", {g}}}, 0}; }

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

void checkInvariant(const std::string& stem) {
  auto full = dyndnn::DynamicModel::load(fixture(stem + ".dyn"));
  const int groups = static_cast<int>(full.operatingPoints().size());
  REQUIRE(groups == 4);
  const auto x = at::randn({3, 1, 28, 28}, at::TensorOptions().dtype(at::kFloat));
  for (int g = 1; g < groups; ++g) {
    INFO(stem << " level " << g);
    full.setSubnet(level(g));
    const auto pruned = full.infer(x);
    auto stage = dyndnn::DynamicModel::load(fixture(stem + ".stage" + std::to_string(g) + ".dyn"));
    stage.setSubnet(level(g));
    CHECK(maxAbsDiff(pruned, stage.infer(x)) <= 1e-6 * (1.0 + pruned.abs().max().item<double>()));

    auto perturbed = dyndnn::DynamicModel::load(fixture(stem + ".perturbed" + std::to_string(g) + ".dyn"));
    perturbed.setSubnet(level(g));
    CHECK(maxAbsDiff(pruned, perturbed.infer(x)) == 0.0);  // the same weights run: bit for bit
    // ...while the perturbation is real: the next level sees it
    full.setSubnet(level(g + 1));
    perturbed.setSubnet(level(g + 1));
    const auto next = full.infer(x);
    CHECK(maxAbsDiff(next, perturbed.infer(x)) > 1e-3 * next.abs().max().item<double>());
    // and levels differ from each other, so the comparisons above are not between constants
    CHECK(maxAbsDiff(next, pruned) > 1e-3 * next.abs().max().item<double>());
    CHECK(maxAbsDiff(pruned.narrow(0, 0, 1), pruned.narrow(0, 1, 1)) > 1e-3 * pruned.abs().max().item<double>());
  }
}

}  // namespace

TEST_CASE("group_cnn, triangular: pruning groups > g is exact", "[group_cnn]") { checkInvariant("group_cnn_tri"); }

TEST_CASE("group_cnn, grouped: pruning groups > g is exact", "[group_cnn]") { checkInvariant("group_cnn_grouped"); }

TEST_CASE("group_cnn configs: the family names its knob and its range", "[group_cnn][config]") {
  auto model = dyndnn::DynamicModel::load(fixture("group_cnn_tri.dyn"));
  model.setSubnet(level(4));
  CHECK(model.activeConfig() == SubnetConfig{{{"g", {4}}}, 28});  // normalised: the resolution filled in
  CHECK_THROWS_WITH(model.setSubnet(level(5)), Catch::Contains("'g' = [5]: must be one integer in 1..4"));
  CHECK_THROWS_WITH(model.setSubnet(level(0)), Catch::Contains("in 1..4"));
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"ks": 3})")),
                    Catch::Contains("unknown field 'ks' (a group_cnn has 'g'"));
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"g": 2, "r": 32})")),
                    Catch::Contains("'r' = 32 is not a supported resolution (supported: 28)"));
  model.setSubnet(SubnetConfig::fromJson(R"({"g": 2})"));
  CHECK(model.activeConfig().toJson() == R"({"g":2,"r":28})");
  const auto small = model.cost(level(1)), big = model.cost(level(4));
  CHECK(small.macs * 4 < big.macs);  // triangular: level 1 reads a quarter of the inputs of a quarter of the rows
}
