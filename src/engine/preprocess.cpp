#include "engine/preprocess.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::engine {
namespace {

constexpr std::int64_t kMaxSide = 16384;
constexpr std::int64_t kMaxPixels = std::int64_t{1} << 26;

void checkSpatial(std::int64_t h, std::int64_t w, const char* what) {
  if (h < 1 || w < 1) throw InvalidArgument(fmt::format("infer: {} is empty ({}x{})", what, h, w));
  if (h > kMaxSide || w > kMaxSide || h * w > kMaxPixels)
    throw InvalidArgument(fmt::format("infer: {} of {}x{} is larger than dyndnn accepts (sides up to {}, {} pixels); "
                                      "downscale it first",
                                      what, h, w, kMaxSide, kMaxPixels));
}

}  // namespace

at::Tensor prepareTensor(const at::Tensor& input, int channels, int resolution) {
  if (!input.defined()) throw InvalidArgument("infer: the input tensor is undefined");
  auto x = input.dim() == 3 ? input.unsqueeze(0) : input;
  if (x.dim() != 4)
    throw InvalidArgument(fmt::format("infer: input has {} dimensions; pass NCHW (or CHW) with {} channels",
                                      input.dim(), channels));
  if (x.scalar_type() != at::kFloat)
    throw InvalidArgument(fmt::format("infer: input dtype is {}; pass float32 (uint8 images go through the "
                                      "image overload, which normalises them)",
                                      c10::toString(x.scalar_type())));
  if (!x.device().is_cpu())
    throw InvalidArgument(fmt::format("infer: input is on {}; this model runs on the CPU", x.device().str()));
  if (x.size(0) < 1) throw InvalidArgument("infer: input batch is empty");
  if (x.size(1) != channels)
    throw InvalidArgument(fmt::format("infer: input has {} channels (dimension 1 of NCHW); the model needs {}",
                                      x.size(1), channels));
  checkSpatial(x.size(2), x.size(3), "input");
  if (x.size(2) == resolution && x.size(3) == resolution) return x.contiguous();
  return at::upsample_bilinear2d(x.contiguous(), {resolution, resolution}, /*align_corners=*/false);
}

at::Tensor prepareImage(const ImageView& img, const InputSpec& spec, int resolution) {
  if (img.data == nullptr) throw InvalidArgument("infer: image data pointer is null");
  checkSpatial(img.height, img.width, "image");
  if (img.channels != spec.channels)
    throw InvalidArgument(fmt::format("infer: image has {} channels; the model needs {}", img.channels, spec.channels));
  const std::size_t packed = static_cast<std::size_t>(img.width) * img.channels;
  const std::size_t stride = img.row_stride ? img.row_stride : packed;
  if (stride < packed)
    throw InvalidArgument(fmt::format("infer: image row stride {} is smaller than width x channels = {}", stride, packed));
  auto hwc = at::from_blob(const_cast<std::uint8_t*>(img.data), {img.height, img.width, img.channels},
                           {static_cast<std::int64_t>(stride), img.channels, 1}, at::TensorOptions().dtype(at::kByte));
  auto x = hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div_(255.0);
  const std::int64_t h = img.height, w = img.width;
  const auto shorter = static_cast<std::int64_t>(std::ceil(resolution / spec.crop_ratio));
  std::int64_t oh, ow;
  if (h <= w) {
    oh = shorter;
    ow = std::max(shorter, w * shorter / h);
  } else {
    ow = shorter;
    oh = std::max(shorter, h * shorter / w);
  }
  if (oh != h || ow != w) x = at::_upsample_bilinear2d_aa(x, {oh, ow}, /*align_corners=*/false);
  x = x.narrow(2, (oh - resolution) / 2, resolution).narrow(3, (ow - resolution) / 2, resolution);
  auto mean = at::tensor(at::ArrayRef<float>(spec.mean)).view({1, -1, 1, 1});
  auto std = at::tensor(at::ArrayRef<float>(spec.std)).view({1, -1, 1, 1});
  return ((x - mean) / std).contiguous();
}

}  // namespace dyndnn::engine
