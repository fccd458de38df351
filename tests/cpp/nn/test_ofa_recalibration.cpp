// BN recalibration on the op graph (engine/calibrate.hpp) reproduces what the Python tools stored in the shipped
// model: for its operating points, the statistics measured on the same 2,000 training images (the fixed subset of
// tools/dyndnn_tools/fmnist.py: randperm with seed 0), prepared by the library's own image path
// (engine::prepareImage) in batches of 250, equal the package's per-point statistics. So `dyndnn search` computes
// the statistics select_operating_points.py did, from raw images.

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <catch2/catch.hpp>

#include "dyndnn/tools/idx_dataset.hpp"
#include "engine/calibrate.hpp"
#include "engine/preprocess.hpp"
#include "fixtures.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

TEST_CASE("BN recalibration reproduces the shipped model's per-operating-point statistics from raw images",
          "[calibrate]") {
  const auto data = dyndnn::readIdxImages("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  auto package = dyndnn::format::Package::open(dyndnn::test::sourceFile("models/fmnist_ofa_mbv3.dyn"));
  const auto net = dyndnn::nn::openSupernet(package);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const auto subset = at::randperm(data.count, gen, at::kLong).narrow(0, 0, 2000);
  const auto* index = subset.data_ptr<std::int64_t>();
  const std::size_t pixels = static_cast<std::size_t>(data.rows * data.cols);

  for (int op : {0, 3, 7}) {  // resolutions 20, 28 and 32
    const auto& point = package.operating_points[static_cast<std::size_t>(op)];
    INFO("operating point " << point.name);
    const int r = point.config.r;
    std::int64_t next = 0;
    auto batches = [&]() -> at::Tensor {
      if (next == subset.numel()) return {};
      std::vector<at::Tensor> images;
      for (; next < subset.numel() && images.size() < 250; ++next) {
        dyndnn::ImageView view;
        view.data = data.pixels.data() + static_cast<std::size_t>(index[next]) * pixels;
        view.height = data.rows;
        view.width = data.cols;
        view.channels = 1;
        images.push_back(dyndnn::engine::prepareImage(view, package.input, r));
      }
      return at::cat(images);
    };
    const auto stats = dyndnn::engine::recalibrateBatchNorm(net->lower(point.config), batches);
    const auto stored = net->lower(point.config, op);  // the same graph with the point's own statistics
    int compared = 0;
    for (const auto& n : stored.nodes()) {
      if (n.op != dyndnn::engine::Op::BatchNorm) continue;
      INFO(n.name);
      const auto& [mean, var] = stats.at(n.name);
      // Means in units of the layer's spread: after a batch norm the next layer's input means are ~0 (1e-6 noise).
      CHECK((mean - n.mean).abs().max().item<double>() <= 1e-4 * n.var.sqrt().max().item<double>());
      CHECK(dyndnn::test::relativeError(var, n.var) <= 1e-4);
      ++compared;
    }
    CHECK(compared == static_cast<int>(stats.size()));
    CHECK(compared > 20);
  }
}
