// The image path on its own (engine/preprocess): uint8 HWC in, normalised NCHW at the active resolution out,
// against a slow reference written here (a separable triangle filter, the antialiased bilinear resize of PIL and
// PyTorch's antialias=True) and exact cases where no resize happens.

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "dyndnn/error.hpp"
#include "engine/preprocess.hpp"

using dyndnn::ImageView;
using dyndnn::InputSpec;
using dyndnn::engine::prepareImage;

namespace {

std::vector<std::uint8_t> randomImage(int h, int w, int c, std::size_t stride, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> px(stride * static_cast<std::size_t>(h));
  for (auto& v : px) v = static_cast<std::uint8_t>(rng() & 0xFF);  // padding bytes too: they must not matter
  return px;
}

// One axis of the antialiased bilinear resize: output sample i covers input [centre - support, centre + support]
// with triangle weights scaled by the downscale factor (support 1 when upscaling), normalised to sum 1.
std::vector<std::vector<std::pair<int, double>>> weights(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  const double support = scale > 1 ? scale : 1.0;
  std::vector<std::vector<std::pair<int, double>>> all(static_cast<std::size_t>(out));
  for (int i = 0; i < out; ++i) {
    const double centre = (i + 0.5) * scale;
    double total = 0;
    for (int j = std::max(0, static_cast<int>(centre - support)); j < std::min(in, static_cast<int>(centre + support) + 1);
         ++j) {
      const double wgt = std::max(0.0, 1.0 - std::abs((j + 0.5 - centre) / support));
      if (wgt > 0) all[static_cast<std::size_t>(i)].push_back({j, wgt});
      total += wgt;
    }
    for (auto& [j, wgt] : all[static_cast<std::size_t>(i)]) wgt /= total;
  }
  return all;
}

at::Tensor slowReference(const std::vector<std::uint8_t>& px, int h, int w, int c, std::size_t stride,
                         const InputSpec& spec, int r) {
  const int shorter = static_cast<int>(std::ceil(r / spec.crop_ratio));
  const int oh = h <= w ? shorter : std::max(shorter, h * shorter / w);
  const int ow = h <= w ? std::max(shorter, w * shorter / h) : shorter;
  const auto wy = weights(h, oh), wx = weights(w, ow);
  auto out = at::empty({1, c, r, r});
  auto o = out.accessor<float, 4>();
  const int y0 = (oh - r) / 2, x0 = (ow - r) / 2;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < r; ++y)
      for (int x = 0; x < r; ++x) {
        double v = 0;
        for (auto [iy, a] : wy[static_cast<std::size_t>(y + y0)])
          for (auto [ix, b] : wx[static_cast<std::size_t>(x + x0)])
            v += a * b * px[static_cast<std::size_t>(iy) * stride + static_cast<std::size_t>(ix) * c + ch] / 255.0;
        o[0][ch][y][x] = static_cast<float>((v - spec.mean[ch]) / spec.std[ch]);
      }
  return out;
}

InputSpec spec(int channels, double crop_ratio) {
  InputSpec s;
  s.channels = channels;
  s.crop_ratio = crop_ratio;
  for (int i = 0; i < channels; ++i) {
    s.mean.push_back(0.3f + 0.1f * i);
    s.std.push_back(0.25f + 0.05f * i);
  }
  return s;
}

}  // namespace

TEST_CASE("preprocess: resized, cropped and normalised as the slow reference does", "[engine][preprocess]") {
  struct Case {
    int h, w, c, r;
    double crop;
    std::size_t pad;  // bytes of padding per row
  };
  for (const Case& k : {Case{28, 28, 1, 28, 1.0, 0}, Case{36, 32, 3, 24, 0.75, 0}, Case{50, 40, 3, 20, 1.0, 5},
                        Case{40, 50, 1, 20, 0.875, 3}, Case{14, 14, 1, 28, 1.0, 0}, Case{13, 31, 3, 16, 1.0, 1}}) {
    INFO(k.h << "x" << k.w << "x" << k.c << " -> " << k.r << ", crop " << k.crop << ", pad " << k.pad);
    const std::size_t stride = static_cast<std::size_t>(k.w) * k.c + k.pad;
    const auto px = randomImage(k.h, k.w, k.c, stride, static_cast<unsigned>(k.h * 131 + k.w));
    const auto s = spec(k.c, k.crop);
    const ImageView view{px.data(), k.h, k.w, k.c, k.pad ? stride : 0};
    const auto got = prepareImage(view, s, k.r);
    REQUIRE(got.sizes() == at::IntArrayRef({1, k.c, k.r, k.r}));
    const auto want = slowReference(px, k.h, k.w, k.c, stride, s, k.r);
    CHECK(at::allclose(got, want, 1e-5, 1e-5));
    // the output is the image's: change one pixel in the crop and the output changes there
    auto other = px;
    const std::size_t centre = static_cast<std::size_t>(k.h / 2) * stride + static_cast<std::size_t>(k.w / 2) * k.c;
    other[centre] = static_cast<std::uint8_t>(other[centre] ^ 0x80);
    const auto changed = prepareImage({other.data(), k.h, k.w, k.c, view.row_stride}, s, k.r);
    CHECK(!at::equal(changed, got));
  }
}

TEST_CASE("preprocess: without a resize the values are exact", "[engine][preprocess]") {
  // 36x32, r 24, crop 0.75: the shorter side is already ceil(24 / 0.75) = 32, so only the centre crop happens.
  const auto px = randomImage(36, 32, 1, 32, 5);
  const auto s = spec(1, 0.75);
  const auto got = prepareImage({px.data(), 36, 32, 1, 0}, s, 24);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24; ++x) {
      const float v = (px[static_cast<std::size_t>(y + 6) * 32 + static_cast<std::size_t>(x + 4)] / 255.0f - s.mean[0]) /
                      s.std[0];
      REQUIRE(got[0][0][y][x].item<float>() == Approx(v).epsilon(1e-6));
    }
}

TEST_CASE("preprocess: bad images are InvalidArgument saying what is wrong", "[engine][preprocess]") {
  const auto px = randomImage(8, 8, 3, 24, 1);
  const auto s = spec(3, 1.0);
  CHECK_THROWS_WITH(prepareImage({px.data(), 8, 8, 1, 0}, s, 8), Catch::Contains("image has 1 channels; the model needs 3"));
  CHECK_THROWS_WITH(prepareImage({px.data(), 8, 8, 3, 20}, s, 8), Catch::Contains("row stride 20 is smaller"));
  CHECK_THROWS_WITH(prepareImage({nullptr, 8, 8, 3, 0}, s, 8), Catch::Contains("null"));
  CHECK_THROWS_AS(prepareImage({px.data(), 0, 8, 3, 0}, s, 8), dyndnn::InvalidArgument);
}
