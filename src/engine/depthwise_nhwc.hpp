#pragma once
// A depthwise convolution for the kernels XNNPACK 2022 has no microkernel for (its depthwise kernels stop at 25
// taps, so a 7x7 one falls to a generic path: 1.7 GMAC/s against oneDNN's 23 on x86, benchmarks/bench_backends),
// in the XNNPACK backend's layout (NHWC). Vectorised across channels: NEON intrinsics on ARM, elsewhere a loop
// over fixed blocks of channels that the compiler vectorises. Rows of output run on a pthreadpool.

#include <pthreadpool.h>

#include <cstdint>
#include <vector>

namespace dyndnn::engine {

struct DepthwiseNhwc {
  std::int64_t channels = 0, kernel = 0, stride = 1, pad = 0;
  float lo, hi;               // output clamp (a fused ReLU / ReLU6)
  std::vector<float> weight;  // [kernel * kernel][channels]: one tap's channels contiguous
  std::vector<float> bias;    // [channels] (zeros without a bias)

  /// `weight` in PyTorch's layout [C, 1, k, k]; `bias` may be null.
  DepthwiseNhwc(std::int64_t channels, std::int64_t kernel, std::int64_t stride, std::int64_t pad, const float* weight,
                const float* bias, float lo, float hi);
  /// in: [n, h, w, C], out: [n, ho, wo, C] with the usual output size.
  void run(const float* in, std::int64_t n, std::int64_t h, std::int64_t w, float* out, pthreadpool_t pool) const;
  /// "neon" or "portable": which inner loop this build runs.
  static const char* variant();
};

}  // namespace dyndnn::engine
