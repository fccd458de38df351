// Sub-network configs: OFA's dict form, validation against the supernet, MACs and params.

#include <catch2/catch.hpp>

#include "dyndnn/dyndnn.hpp"
#include "fixtures.hpp"
#include "nn/ofa_mbv3_arch.hpp"

using dyndnn::InvalidArgument;
using dyndnn::SubnetConfig;
using dyndnn::nn::ArchSpec;

namespace {
SubnetConfig ofa(std::vector<int> ks, std::vector<int> e, std::vector<int> d, int r) {
  return SubnetConfig{{{"ks", std::move(ks)}, {"e", std::move(e)}, {"d", std::move(d)}}, r};
}
SubnetConfig uniform(int k, int e, int d, int r) { return ofa({k}, {e}, {d}, r); }
}  // namespace

TEST_CASE("makeDivisible follows OFA's rounding", "[config]") {
  CHECK(dyndnn::nn::makeDivisible(16 * 1.2) == 24);
  CHECK(dyndnn::nn::makeDivisible(112 * 1.2) == 136);
  CHECK(dyndnn::nn::makeDivisible(1280 * 1.2) == 1536);
  CHECK(dyndnn::nn::makeDivisible(3) == 8);
  CHECK(dyndnn::nn::makeDivisible(20) == 24);  // 16 would be below 90% of 20
}

TEST_CASE("MACs and params match OFA's published counts for MBv3 w1.0", "[config]") {
  const auto arch = ArchSpec::ofaMbv3(1.0);
  std::vector<int> res;
  for (int r = 128; r <= 224; r += 4) res.push_back(r);
  struct Row {
    SubnetConfig c;
    std::int64_t macs, params;
  };
  // Reference notes section 7: 566 M / 7.66 M, 185 M / 4.55 M, 63 M / 3.41 M.
  for (const auto& row : {Row{uniform(7, 6, 4, 224), 566170656, 7664760}, Row{uniform(5, 4, 3, 192), 185097984, 4551792},
                          Row{uniform(3, 3, 2, 160), 63240528, 3410792}}) {
    SubnetConfig n;
    REQUIRE(arch.normalise(row.c, res, n).empty());
    const auto m = arch.cost(n);
    CHECK(m.macs == row.macs);
    CHECK(m.params == row.params);
  }
  CHECK(arch.tensorShapes().size() == 411);  // 475 in OFA's state dict minus 64 num_batches_tracked
}

TEST_CASE("configs parse from OFA's dict form and validate against the supernet", "[config]") {
  auto model = dyndnn::DynamicModel::load(dyndnn::test::fixture("ofa_w1.0.dyn"));
  auto c = SubnetConfig::fromJson(R"({"ks": 5, "e": [3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,3,4], "d": 3, "r": 192})");
  auto n = model.normalise(c);
  CHECK(n.at("ks") == std::vector<int>(20, 5));
  CHECK(n.at("d") == std::vector<int>(5, 3));
  CHECK(n.at("e")[2] == 6);
  CHECK_THROWS_WITH(n.at("g"), Catch::Contains("no knob 'g' (it has: d, e, ks)"));
  CHECK(SubnetConfig::fromJson(n.toJson()) == n);
  CHECK(model.cost(c).macs > 0);

  auto rejects = [&](const SubnetConfig& bad, const std::string& says) {
    INFO(bad.toJson());
    REQUIRE_THROWS_AS(model.setSubnet(bad), InvalidArgument);
    try {
      model.setSubnet(bad);
    } catch (const InvalidArgument& e) {
      CHECK_THAT(e.what(), Catch::Contains(says));
    }
  };
  rejects(uniform(4, 6, 4, 224), "'ks'[0] = 4 is not one of [3, 5, 7]");
  rejects(uniform(7, 5, 4, 224), "'e'[0] = 5");
  rejects(uniform(7, 6, 5, 224), "'d'[0] = 5");
  rejects(uniform(7, 6, 4, 225), "'r' = 225 is not a supported resolution");
  rejects(ofa({7, 7}, {6}, {4}, 224), "'ks' has 2 values; this supernet needs 20");
  rejects(ofa({}, {6}, {4}, 224), "'ks' has 0 values");
  const auto before = model.activeConfig();
  CHECK_THROWS(model.setSubnet(uniform(7, 6, 4, 0)));
  CHECK(model.activeConfig() == before);  // a rejected switch leaves the active sub-network alone

  // the family says which knobs it has
  rejects(SubnetConfig::fromJson("{\"ks\": 7}"), "missing field 'e'");
  rejects(SubnetConfig::fromJson("{\"ks\": 7, \"e\": 6, \"d\": 4, \"r\": 224, \"w\": 1}"), "unknown field 'w'");
  rejects(SubnetConfig::fromJson("{\"ks\": 7, \"e\": 6, \"d\": 4}"), "missing field 'r'");
  CHECK(SubnetConfig::fromJson("{\"g\": 2}").toJson() == "{\"g\":2}");
  CHECK_THROWS_WITH(SubnetConfig::fromJson("{\"ks\": [7, \"x\"], \"e\": 6, \"d\": 4, \"r\": 224}"),
                    Catch::Contains("is not an integer"));
  CHECK_THROWS_AS(SubnetConfig::fromJson("not json"), InvalidArgument);
  CHECK_THROWS_WITH(model.setSubnet(std::string("nope")), Catch::Contains("no operating point named 'nope'"));
}

TEST_CASE("bad infer inputs are clear errors", "[infer]") {
  auto model = dyndnn::DynamicModel::load(dyndnn::test::fixture("fmnist.dyn"));
  CHECK_THROWS_WITH(model.infer(at::Tensor()), Catch::Contains("undefined"));
  CHECK_THROWS_WITH(model.infer(at::zeros({1, 3, 32, 32})), Catch::Contains("3 channels"));
  CHECK_THROWS_WITH(model.infer(at::zeros({1, 1, 32, 32}, at::kDouble)), Catch::Contains("float32"));
  CHECK_THROWS_WITH(model.infer(at::zeros({32, 32})), Catch::Contains("2 dimensions"));
  CHECK_THROWS_WITH(model.infer(at::zeros({0, 1, 32, 32})), Catch::Contains("batch is empty"));
  CHECK_THROWS_WITH(model.infer(at::zeros({1, 1, 0, 32})), Catch::Contains("empty"));
  CHECK_THROWS_WITH(model.infer(at::zeros({1, 1, 20000, 2})), Catch::Contains("larger than dyndnn accepts"));
  CHECK_THROWS_WITH(model.infer(at::empty({1, 1, 32, 32}, at::TensorOptions().device(at::kMeta))),
                    Catch::Contains("input is on meta; this model runs on the CPU"));
  std::vector<std::uint8_t> pixels(10 * 10 * 3);
  CHECK_THROWS_WITH(model.infer(dyndnn::ImageView{pixels.data(), 10, 10, 3, 0}), Catch::Contains("3 channels"));
  CHECK_THROWS_WITH(model.infer(dyndnn::ImageView{nullptr, 10, 10, 1, 0}), Catch::Contains("null"));
  CHECK_THROWS_WITH(model.infer(dyndnn::ImageView{pixels.data(), 10, 10, 1, 5}), Catch::Contains("row stride"));
}
