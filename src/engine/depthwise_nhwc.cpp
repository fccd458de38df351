#include "engine/depthwise_nhwc.hpp"

#include <algorithm>

#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace dyndnn::engine {
namespace {

// Calls f(x, w) for each tap (ky, kx) of [ky0, ky1) x [kx0, kx1), the taps that read the input (padding
// contributes nothing): `x` points at the tap's input pixel, `w` at its weights (both at the block's channel).
template <typename F>
inline void forEachTap(const DepthwiseNhwc& p, const float* x, std::int64_t row_stride, const float* w,
                       std::int64_t ky0, std::int64_t ky1, std::int64_t kx0, std::int64_t kx1, F&& f) {
  const std::int64_t C = p.channels;
  for (std::int64_t ky = ky0; ky < ky1; ++ky) {
    const float* xr = x + (ky - ky0) * row_stride;
    const float* wr = w + (ky * p.kernel) * C;
    for (std::int64_t kx = kx0; kx < kx1; ++kx) f(xr + (kx - kx0) * C, wr + kx * C);
  }
}

// One output pixel's channels [c, c + B): bias, the taps, the clamp. `x` points at the input pixel of tap
// (ky0, kx0), `w` at the weights of tap (0, 0).
template <int B>
inline void pixelBlock(const DepthwiseNhwc& p, const float* x, std::int64_t row_stride, const float* w,
                       std::int64_t ky0, std::int64_t ky1, std::int64_t kx0, std::int64_t kx1, const float* bias,
                       float* o) {
#if defined(__ARM_NEON)
  if constexpr (B % 4 == 0) {
    float32x4_t acc[B / 4];
    for (int b = 0; b < B / 4; ++b) acc[b] = vld1q_f32(bias + 4 * b);
    forEachTap(p, x, row_stride, w, ky0, ky1, kx0, kx1, [&](const float* xi, const float* wi) {
      for (int b = 0; b < B / 4; ++b) acc[b] = vfmaq_f32(acc[b], vld1q_f32(xi + 4 * b), vld1q_f32(wi + 4 * b));
    });
    const float32x4_t lo = vdupq_n_f32(p.lo), hi = vdupq_n_f32(p.hi);
    for (int b = 0; b < B / 4; ++b) vst1q_f32(o + 4 * b, vminq_f32(vmaxq_f32(acc[b], lo), hi));
    return;
  }
#endif
  // Fixed-size blocks: the compiler keeps `acc` in vector registers (SSE/AVX here).
  float acc[B];
  for (int b = 0; b < B; ++b) acc[b] = bias[b];
  forEachTap(p, x, row_stride, w, ky0, ky1, kx0, kx1, [&](const float* xi, const float* wi) {
    for (int b = 0; b < B; ++b) acc[b] += xi[b] * wi[b];
  });
  for (int b = 0; b < B; ++b) o[b] = std::min(std::max(acc[b], p.lo), p.hi);
}

struct Job {
  const DepthwiseNhwc* p;
  const float* in;
  float* out;
  std::int64_t h, w, ho, wo;
};

void outputRow(void* context, std::size_t task) {
  const Job& j = *static_cast<const Job*>(context);
  const DepthwiseNhwc& p = *j.p;
  const std::int64_t C = p.channels, k = p.kernel;
  const std::int64_t n = static_cast<std::int64_t>(task) / j.ho, oy = static_cast<std::int64_t>(task) % j.ho;
  const std::int64_t iy = oy * p.stride - p.pad;
  const std::int64_t ky0 = std::max<std::int64_t>(0, -iy), ky1 = std::min<std::int64_t>(k, j.h - iy);
  const std::int64_t row_stride = j.w * C;
  float* o = j.out + ((n * j.ho + oy) * j.wo) * C;
  for (std::int64_t ox = 0; ox < j.wo; ++ox, o += C) {
    const std::int64_t ix = ox * p.stride - p.pad;
    const std::int64_t kx0 = std::max<std::int64_t>(0, -ix), kx1 = std::min<std::int64_t>(k, j.w - ix);
    const float* x = j.in + ((n * j.h + iy + ky0) * j.w + ix + kx0) * C;
    const float* wt = p.weight.data();
    std::int64_t c = 0;
    for (; c + 16 <= C; c += 16)
      pixelBlock<16>(p, x + c, row_stride, wt + c, ky0, ky1, kx0, kx1, p.bias.data() + c, o + c);
    for (; c + 4 <= C; c += 4)
      pixelBlock<4>(p, x + c, row_stride, wt + c, ky0, ky1, kx0, kx1, p.bias.data() + c, o + c);
    for (; c < C; ++c) pixelBlock<1>(p, x + c, row_stride, wt + c, ky0, ky1, kx0, kx1, p.bias.data() + c, o + c);
  }
}

}  // namespace

DepthwiseNhwc::DepthwiseNhwc(std::int64_t channels_, std::int64_t kernel_, std::int64_t stride_, std::int64_t pad_,
                             const float* w, const float* b, float lo_, float hi_)
    : channels(channels_), kernel(kernel_), stride(stride_), pad(pad_), lo(lo_), hi(hi_),
      weight(static_cast<std::size_t>(kernel_ * kernel_ * channels_)), bias(static_cast<std::size_t>(channels_), 0.f) {
  const std::int64_t taps = kernel * kernel;
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t t = 0; t < taps; ++t)
      weight[static_cast<std::size_t>(t * channels + c)] = w[c * taps + t];
  if (b != nullptr) std::copy(b, b + channels, bias.begin());
}

void DepthwiseNhwc::run(const float* in, std::int64_t n, std::int64_t h, std::int64_t w, float* out,
                        pthreadpool_t pool) const {
  Job j{this, in, out, h, w, (h + 2 * pad - kernel) / stride + 1, (w + 2 * pad - kernel) / stride + 1};
  pthreadpool_parallelize_1d(pool, outputRow, &j, static_cast<std::size_t>(n * j.ho), 0);
}

const char* DepthwiseNhwc::variant() {
#if defined(__ARM_NEON)
  return "neon";
#else
  return "portable";
#endif
}

}  // namespace dyndnn::engine
