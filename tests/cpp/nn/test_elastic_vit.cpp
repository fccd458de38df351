// The elastic ViT family through the library: every backend against the Python reference forward
// (tools/dyndnn_tools/elastic_vit.py, run on the package's tensors) on random sub-networks with random weights,
// its configs' validation, and its cost model against the op graph it lowers to.

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <catch2/catch.hpp>

#include "dyndnn/dyndnn.hpp"
#include "engine/execution_plan.hpp"
#include "fixtures.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

using dyndnn::SubnetConfig;
using dyndnn::test::fixture;
using dyndnn::test::loadTensor;
using dyndnn::test::relativeError;

namespace {
constexpr double kTolerance = 1e-4;
constexpr double kMinInputDependence = 2e-3;
}  // namespace

TEST_CASE("elastic_vit: every backend matches the Python reference on random sub-networks",
          "[elastic_vit][equivalence]") {
  auto pkg = dyndnn::format::Package::open(fixture("vit_small.dyn"));
  auto supernet = dyndnn::nn::openSupernet(pkg);
  const auto refs = fixture("vit_small.refs");
  REQUIRE(pkg.operating_points.size() == 8);
  std::vector<std::pair<const char*, std::function<dyndnn::engine::PlanPtr(const dyndnn::engine::Graph&)>>> backends{
      {"reference", [](const auto& g) { return dyndnn::engine::compileReference(g); }},
      {"aten/cpu", [](const auto& g) { return dyndnn::engine::compileATen(g, at::kCPU); }}};
  if (dyndnn::engine::hasOneDnn())
    backends.emplace_back("onednn", [](const auto& g) { return dyndnn::engine::compileOneDnn(g); });
  if (dyndnn::engine::hasXnnpack())
    backends.emplace_back("xnnpack", [](const auto& g) { return dyndnn::engine::compileXnnpack(g); });
  if (at::hasCUDA())  // the CUDA plan returns device tensors
    backends.emplace_back("aten/cuda", [](const auto& g) { return dyndnn::engine::compileATen(g, at::kCUDA); });
  for (std::size_t i = 0; i < pkg.operating_points.size(); ++i) {
    const auto& op = pkg.operating_points[i];
    INFO("operating point " << op.name << " " << op.config.summary());
    const auto key = [&](const char* what) { return "op." + std::to_string(i) + "." + what; };
    const auto x = loadTensor(refs, key("input_a"));
    const auto expected = loadTensor(refs, key("logits_a"));
    CHECK(relativeError(loadTensor(refs, key("logits_b")), expected) > kMinInputDependence);
    const auto graph = supernet->lower(op.config, static_cast<int>(i));
    CHECK(graph.totalMacs() == op.metrics.macs);  // the package's cost model counts what the graph computes
    for (const auto& [name, compile] : backends) {
      INFO("backend " << name);
      const auto plan = compile(graph);
      auto device = x.to(at::Device(std::string(name) == "aten/cuda" ? at::kCUDA : at::kCPU));
      CHECK(relativeError(plan->run(device).cpu(), expected) < kTolerance);
      // and a batch of two different images gives each its own answer
      const auto two = at::cat({x, loadTensor(refs, key("input_a")).flip(3)}).to(device.device());
      const auto out = plan->run(two).cpu();
      CHECK(relativeError(out.narrow(0, 0, 1), expected) < kTolerance);
      CHECK(relativeError(out.narrow(0, 1, 1), expected) > kMinInputDependence);
    }
  }
}

TEST_CASE("elastic_vit: the model API runs it like any family (resize, image path, named points)",
          "[elastic_vit][equivalence]") {
  auto model = dyndnn::DynamicModel::load(fixture("vit_small.dyn"));
  const auto refs = fixture("vit_small.refs");
  for (std::size_t i = 0; i < model.operatingPoints().size(); ++i) {
    const auto& op = model.operatingPoints()[i];
    INFO("operating point " << op.name);
    model.setSubnet(op.name);
    const auto key = [&](const char* what) { return "op." + std::to_string(i) + "." + what; };
    CHECK(relativeError(model.infer(loadTensor(refs, key("input_a"))), loadTensor(refs, key("logits_a"))) < kTolerance);
    CHECK(relativeError(model.infer(loadTensor(refs, key("input_b"))), loadTensor(refs, key("logits_b"))) < kTolerance);
    const auto image = loadTensor(refs, key("image")).contiguous();
    const auto out =
        model.infer(dyndnn::ImageView{image.data_ptr<std::uint8_t>(), static_cast<int>(image.size(0)),
                                      static_cast<int>(image.size(1)), static_cast<int>(image.size(2)), 0});
    CHECK(relativeError(out, loadTensor(refs, key("logits_img"))) < kTolerance);
  }
}

TEST_CASE("elastic_vit configs: validated, broadcast, and costed by the family", "[elastic_vit][config]") {
  auto model = dyndnn::DynamicModel::load(fixture("vit_small.dyn"));
  model.setSubnet(SubnetConfig::fromJson(R"({"d": 2, "w": 24, "h": 2, "m": 32})"));
  CHECK(model.activeConfig() ==
        SubnetConfig{{{"d", {2}}, {"w", {24}}, {"h", {2, 2, 2}}, {"m", {32, 32, 32}}}, 28});  // per block, r filled in
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"d": 4, "w": 24, "h": 2, "m": 32})")),
                    Catch::Contains("'d' = 4: allowed values [1, 2, 3]"));
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"d": 2, "w": 24, "h": [1, 2], "m": 32})")),
                    Catch::Contains("'h': 2 values, expected 1 or 3"));
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"d": 2, "w": 24, "h": 2})")),
                    Catch::Contains("missing field 'm'"));
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"d": 2, "w": 24, "h": 2, "m": 32, "ks": 3})")),
                    Catch::Contains("unknown field 'ks' (an elastic_vit has 'd' depth"));
  CHECK_THROWS_WITH(model.setSubnet(SubnetConfig::fromJson(R"({"d": 2, "w": 24, "h": 2, "m": 32, "r": 32})")),
                    Catch::Contains("'r' = 32 is not a supported resolution (supported: 28)"));
  const auto small = model.cost(SubnetConfig::fromJson(R"({"d": 1, "w": 16, "h": 1, "m": 16})"));
  const auto big = model.cost(SubnetConfig::fromJson(R"({"d": 3, "w": 32, "h": 3, "m": 48})"));
  CHECK(small.macs * 10 < big.macs);
  // blocks past the depth do not count
  CHECK(model.cost(SubnetConfig::fromJson(R"({"d": 1, "w": 16, "h": [1, 3, 3], "m": [16, 48, 48]})")).macs ==
        small.macs);
}
