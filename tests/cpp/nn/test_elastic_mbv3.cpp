// DynamicModel against the Python reference forward (tools/dyndnn_tools/reference.py) on random
// sub-networks with random weights, non-identity kernel transforms and calibrated BN statistics.

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include "dyndnn/dyndnn.hpp"
#include "fixtures.hpp"

using dyndnn::test::fixture;
using dyndnn::test::loadTensor;
using dyndnn::test::relativeError;

namespace {

constexpr double kTolerance = 1e-4;
// The comparison only means something when the output depends on the input well above the tolerance
// (random networks can wash the input out; see the reference notes).
constexpr double kMinInputDependence = 2e-3;

void checkPackage(const std::string& stem) {
  auto model = dyndnn::DynamicModel::load(fixture(stem + ".dyn"));
  const auto refs = fixture(stem + ".refs");
  const auto& ops = model.operatingPoints();
  REQUIRE(!ops.empty());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    INFO(stem << " operating point " << op.name << " " << op.config.summary());
    model.setSubnet(op.name);
    REQUIRE(model.activeName() == op.name);
    auto key = [&](const char* what) { return "op." + std::to_string(i) + "." + what; };
    const auto ref_a = loadTensor(refs, key("logits_a"));
    const auto ref_b = loadTensor(refs, key("logits_b"));
    const auto ref_img = loadTensor(refs, key("logits_img"));

    const auto out_a = model.infer(loadTensor(refs, key("input_a")));
    const auto out_b = model.infer(loadTensor(refs, key("input_b")));  // another size: resized
    const auto image = loadTensor(refs, key("image")).contiguous();
    const auto out_img = model.infer(dyndnn::ImageView{image.data_ptr<std::uint8_t>(), static_cast<int>(image.size(0)),
                                                       static_cast<int>(image.size(1)),
                                                       static_cast<int>(image.size(2)), 0});
    CHECK(relativeError(out_a, ref_a) < kTolerance);
    CHECK(relativeError(out_b, ref_b) < kTolerance);
    CHECK(relativeError(out_img, ref_img) < kTolerance);
    CHECK(relativeError(ref_b, ref_a) > kMinInputDependence);
    CHECK(relativeError(ref_img, ref_a) > kMinInputDependence);

    if (!op.has_bn_stats) {  // the same sub-network given as an explicit config runs the same weights
      model.setSubnet(op.config);
      CHECK(model.activeName().empty());
      CHECK(relativeError(model.infer(loadTensor(refs, key("input_a"))), ref_a) < kTolerance);
    }
  }
}

}  // namespace

TEST_CASE("OFA MBv3 w1.0: 22 random sub-networks match the Python reference", "[equivalence]") {
  checkPackage("ofa_w1.0");
}

TEST_CASE("OFA MBv3 w1.2: random sub-networks match the Python reference", "[equivalence]") {
  checkPackage("ofa_w1.2");
}

TEST_CASE("1-channel 28x28 family (Fashion-MNIST class) matches the Python reference", "[equivalence]") {
  checkPackage("fmnist");
}

TEST_CASE("group_cnn, triangular: every level matches the Python reference", "[equivalence][group_cnn]") {
  checkPackage("group_cnn_tri");
}

TEST_CASE("group_cnn, grouped: every level matches the Python reference", "[equivalence][group_cnn]") {
  checkPackage("group_cnn_grouped");
}

TEST_CASE("infer accepts CHW, batches and non-contiguous input", "[infer]") {
  auto model = dyndnn::DynamicModel::load(fixture("fmnist.dyn"));
  const int r = model.activeConfig().r;
  auto x = at::randn({3, 1, r, r});
  auto batch = model.infer(x);
  REQUIRE(batch.sizes() == at::IntArrayRef({3, 10}));
  CHECK(relativeError(model.infer(x[1]), batch.narrow(0, 1, 1)) < kTolerance);
  auto transposed = x.transpose(2, 3).contiguous().transpose(2, 3);  // same values, other strides
  REQUIRE(!transposed.is_contiguous());
  CHECK(relativeError(model.infer(transposed), batch) < kTolerance);
}
