// Static packages (nn/static_graph.cpp, DynamicModel::exportSubnet): one sub-network of every family exported,
// loaded back and run on every CPU backend gives the original's outputs; it holds only that sub-network's
// tensors, carries its name, accuracy, MACs and params over, and refuses knobs; damaged static packages are
// refused with the file and node named; a failed export leaves nothing behind.

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "dyndnn/dyndnn.hpp"
#include "engine/execution_plan.hpp"
#include "fixtures.hpp"
#include "format/package_writer.hpp"

using dyndnn::DynamicModel;
using dyndnn::ModelOptions;
using dyndnn::SubnetConfig;
using dyndnn::test::fixture;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> cpuBackends() {
  std::vector<std::string> out{"reference", "aten"};
  if (dyndnn::engine::hasOneDnn()) out.push_back("onednn");
  if (dyndnn::engine::hasXnnpack()) out.push_back("xnnpack");
  return out;
}

ModelOptions on(const std::string& backend) {
  ModelOptions o;
  o.backend = backend;
  o.prefetch_operating_points = false;
  return o;
}

at::Tensor randomInput(const DynamicModel& m, std::int64_t batch) {
  const int r = m.activeConfig().r;
  return at::randn({batch, m.info().input.channels, r, r}, at::TensorOptions().dtype(at::kFloat));
}

// Exports `op` (an operating point's name, or "" for the first operating point's config given explicitly: the
// fixture's first point runs on the supernet's BN statistics, which were calibrated) and checks the static package against
// the source on every backend.
void checkExport(const std::string& stem, const std::string& op) {
  INFO(stem << " " << (op.empty() ? "largest config" : op));
  const auto out = dyndnn::test::tempDir() + "/" + stem + ".static.dyn";
  auto source = DynamicModel::load(fixture(stem + ".dyn"), on("reference"));
  if (op.empty()) {
    const auto config = source.operatingPoints().front().config;
    source.exportSubnet(config, out);
    source.setSubnet(config);
  } else {
    source.exportSubnet(op, out);
    source.setSubnet(op);
  }
  const auto& point = op.empty() ? dyndnn::OperatingPoint{} : *std::find_if(
      source.operatingPoints().begin(), source.operatingPoints().end(), [&](const auto& p) { return p.name == op; });
  for (const auto& backend : cpuBackends()) {
    INFO("backend " << backend);
    auto exported = DynamicModel::load(out, on(backend));
    auto original = DynamicModel::load(fixture(stem + ".dyn"), on(backend));
    if (op.empty()) original.setSubnet(source.activeConfig());
    else original.setSubnet(op);
    CHECK(exported.info().family == "static_graph");
    REQUIRE(exported.operatingPoints().size() == 1);
    const auto& p = exported.operatingPoints().front();
    CHECK(p.name == (op.empty() ? "exported" : op));
    CHECK(p.metrics.accuracy == point.metrics.accuracy);
    const auto cost = source.cost(source.activeConfig());
    CHECK(p.metrics.macs == cost.macs);
    CHECK(p.metrics.params == cost.params);
    CHECK(exported.info().file_bytes < original.info().file_bytes);
    const auto a = randomInput(exported, 2), b = randomInput(exported, 2);
    const auto want = original.infer(a);
    CHECK(dyndnn::test::relativeError(exported.infer(a), want) <= 1e-6);
    CHECK(dyndnn::test::relativeError(original.infer(b), want) > 1e-2);  // the outputs read the input
  }
}

}  // namespace

TEST_CASE("static package: an exported sub-network of every family runs as it did, on every CPU backend",
          "[static_graph]") {
  at::manual_seed(21);
  checkExport("fmnist", "random7");     // its own BN statistics
  checkExport("fmnist", "random0");     // the supernet's (the fixture's first point has none of its own)
  checkExport("fmnist", "");            // an explicit config
  checkExport("ofa_w1.0", "random3");
  checkExport("group_cnn_tri", "g2");
  checkExport("group_cnn_grouped", "g3");
  checkExport("vit_small", "op1");
}

TEST_CASE("static package: one config and no knobs, and a re-export holds the same graph and tensors",
          "[static_graph]") {
  const auto dir = dyndnn::test::tempDir();
  auto source = DynamicModel::load(fixture("fmnist.dyn"), on("auto"));
  source.exportSubnet("random5", dir + "/a.dyn");
  auto a = DynamicModel::load(dir + "/a.dyn", on("auto"));
  CHECK_THROWS_WITH(a.setSubnet(SubnetConfig::fromJson(R"({"ks": 3})")), Contains("no knobs"));
  CHECK_THROWS_WITH(a.setSubnet(SubnetConfig::fromJson(R"({"r": 12})")), Contains("runs only at"));
  a.setSubnet(SubnetConfig{});
  a.exportSubnet("random5", dir + "/b.dyn");
  nlohmann::json ha, hb;
  std::vector<std::uint8_t> da, db;
  dyndnn::format::readPackageFile(dir + "/a.dyn", ha, da);
  dyndnn::format::readPackageFile(dir + "/b.dyn", hb, db);
  auto graphOf = [](const nlohmann::json& h) {
    return nlohmann::json::parse(h["__metadata__"]["dyndnn"].get<std::string>())["arch"]["graph"];
  };
  CHECK(graphOf(ha) == graphOf(hb));
  CHECK(da == db);
  // Onto the file being read: written beside it and renamed, so the mapped original stays intact.
  a.exportSubnet("random5", dir + "/a.dyn");
  const auto x = randomInput(a, 1);
  CHECK(dyndnn::test::relativeError(DynamicModel::load(dir + "/a.dyn").infer(x), a.infer(x)) == 0.0);
}

TEST_CASE("static package: damage is refused with the file and node named, and a failed export leaves nothing",
          "[static_graph]") {
  const auto dir = dyndnn::test::tempDir();
  const auto good = dir + "/good.dyn";
  DynamicModel::load(fixture("fmnist.dyn")).exportSubnet("random2", good);
  nlohmann::json header;
  std::vector<std::uint8_t> data;
  dyndnn::format::readPackageFile(good, header, data);
  auto damaged = [&](const std::string& name, auto edit) {
    auto h = header;
    auto meta = nlohmann::json::parse(h["__metadata__"]["dyndnn"].get<std::string>());
    edit(h, meta);
    h["__metadata__"]["dyndnn"] = meta.dump();
    const auto path = dir + "/" + name + ".dyn";
    dyndnn::format::writePackageFile(path, h, data);
    return path;
  };
  using J = nlohmann::json;
  CHECK_THROWS_WITH(DynamicModel::load(damaged("cycle", [](J&, J& m) { m["arch"]["graph"]["nodes"][2]["inputs"] = {5}; })),
                    Contains("cycle.dyn") && Contains("arch.graph") && Contains("node #2") && Contains("earlier node"));
  {  // a tensor no node reads, in bytes of its own
    auto h = header;
    auto bytes = data;
    bytes.resize(bytes.size() + 64, 0);
    h["stray"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {data.size(), data.size() + 4}}};
    dyndnn::format::writePackageFile(dir + "/extra.dyn", h, bytes);
    CHECK_THROWS_WITH(DynamicModel::load(dir + "/extra.dyn"), Contains("extra.dyn") && Contains("unexpected tensor 'stray'"));
  }
  CHECK_THROWS_WITH(DynamicModel::load(damaged("res", [](J&, J& m) { m["input"]["resolutions"] = {32}; })),
                    Contains("res.dyn") && Contains("input.resolutions"));
  CHECK_THROWS_WITH(DynamicModel::load(damaged("shape", [](J&, J& m) {
                      m["arch"]["graph"]["nodes"][1]["weight"] = m["arch"]["graph"]["nodes"].back()["weight"];
                    })),
                    Contains("shape.dyn") && Contains("node #1 conv2d 'first_conv'"));
  CHECK_THROWS_AS(DynamicModel::load(fixture("fmnist.dyn")).exportSubnet("random2", dir + "/no/such/dir/x.dyn"),
                  dyndnn::IoError);
  CHECK_FALSE(std::filesystem::exists(dir + "/no/such/dir/x.dyn.partial"));
  CHECK_THROWS_WITH(DynamicModel::load(fixture("fmnist.dyn")).exportSubnet("nothing", dir + "/y.dyn"),
                    Contains("no operating point named 'nothing'"));
  CHECK_FALSE(std::filesystem::exists(dir + "/y.dyn"));
}
