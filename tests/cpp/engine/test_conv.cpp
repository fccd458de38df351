// conv2d on every backend against the reference: kernels 1 to 7, strides 1 and 2, odd and prime channel
// counts, groups 1, C and in between, spatial sizes from 1x1 up, with and without bias, reading the plain
// input (the backend picks its layout) and a blocked activation (a convolution before it), and every fusion
// the passes make into a convolution (activations, residual sum, sum + activation, folded batch norm).

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::test::checkBackends;
using dyndnn::test::randomWeight;

namespace {

struct ConvCase {
  int in, out, kernel, stride, groups, size;
  bool bias;
};

int conv(Graph& g, int x, const ConvCase& c, int pad) {
  auto b = c.bias ? at::randn({c.out}) : at::Tensor();
  return g.conv2d(x, randomWeight({c.out, c.in / c.groups, c.kernel, c.kernel}), b, c.stride, pad);
}

std::string name(const ConvCase& c, int pad) {
  return fmt::format("conv {}->{} k{} s{} p{} g{} @{} bias={}", c.in, c.out, c.kernel, c.stride, pad, c.groups, c.size,
                     c.bias);
}

const std::vector<ConvCase> kCases = {
    {3, 16, 3, 2, 1, 17, true},    // a stem on an odd size
    {1, 7, 5, 1, 1, 11, false},    // one input channel, prime output channels
    {13, 13, 3, 1, 13, 9, true},   // depthwise, prime channels
    {24, 24, 7, 2, 24, 15, true},  // depthwise 7x7 stride 2
    {13, 13, 7, 1, 13, 9, false},  // depthwise 7x7, 13 channels: every channel block of XNNPACK's backend's own kernel
    {37, 37, 7, 1, 37, 20, true},  // ... 16 + 16 + 4 + 1 channels, on a map larger than the kernel
    {20, 30, 3, 1, 5, 8, false},   // grouped in between (4 in, 6 out per group)
    {17, 31, 1, 1, 1, 6, true},    // 1x1 prime channels
    {64, 96, 1, 1, 1, 28, true},   // 1x1 on a larger map
    {8, 12, 2, 2, 1, 10, true},    // even kernel
    {6, 6, 4, 1, 2, 7, false},     // even kernel, grouped
    {32, 48, 1, 1, 1, 1, true},    // 1x1 spatial (SE-like)
    {5, 9, 6, 1, 1, 13, true},     // kernel 6
    {16, 16, 5, 1, 16, 56, false}, // depthwise 5x5 on a large map
    {40, 40, 7, 1, 40, 2, true},   // depthwise 7x7 on 2x2: taps reading only padding are trimmed
    {40, 40, 7, 2, 40, 4, true},   // ... stride 2, to an even 6x6 kernel
};

}  // namespace

TEST_CASE("conv2d reading the graph input matches the reference", "[ops][conv]") {
  for (const auto& c : kCases) {
    for (int pad : {c.kernel / 2, 0}) {
      if (c.size + 2 * pad < c.kernel) continue;
      Graph g;
      const int x = g.input({1, c.in, c.size, c.size});
      g.setOutput(conv(g, x, c, pad));
      checkBackends(g, name(c, pad));
    }
  }
}

TEST_CASE("conv2d reading a blocked activation matches the reference", "[ops][conv]") {
  for (const auto& c : kCases) {
    Graph g;
    int x = g.input({1, 4, c.size, c.size});
    x = g.conv2d(x, randomWeight({c.in, 4, 1, 1}), at::randn({c.in}), 1, 0);  // gives the next conv a blocked input
    g.setOutput(conv(g, x, c, c.kernel / 2));
    checkBackends(g, "after a 1x1 conv: " + name(c, c.kernel / 2));
  }
}

TEST_CASE("conv2d + every activation, fused, matches the reference", "[ops][conv][fusion]") {
  for (Act act : {Act::ReLU, Act::ReLU6, Act::HSwish, Act::HSigmoid, Act::Sigmoid, Act::GELU}) {
    for (const auto& c : {ConvCase{8, 16, 3, 1, 1, 12, true}, ConvCase{16, 16, 5, 2, 16, 12, true}}) {
      Graph g;
      int x = g.input({1, c.in, c.size, c.size});
      x = g.activation(conv(g, x, c, c.kernel / 2), act);
      g.setOutput(g.activation(conv(g, x, {c.out, 24, 1, 1, 1, 0, true}, 0), act));
      checkBackends(g, fmt::format("{} + {}", name(c, c.kernel / 2), dyndnn::engine::actName(act)));
    }
  }
}

TEST_CASE("conv2d + residual sum (+ activation), fused, matches the reference", "[ops][conv][fusion]") {
  for (bool relu_after : {false, true}) {
    for (bool residual_read_later : {false, true}) {
      Graph g;
      int x = g.input({1, 5, 9, 9});
      x = g.conv2d(x, randomWeight({12, 5, 3, 3}), at::randn({12}), 1, 1);
      int y = g.conv2d(x, randomWeight({12, 1, 3, 3}), at::randn({12}), 1, 1);  // depthwise
      y = g.add(g.conv2d(y, randomWeight({12, 12, 1, 1}), at::randn({12}), 1, 0), x);
      if (relu_after) y = g.activation(y, Act::ReLU);
      // When the residual is read again later, the sum cannot accumulate in its buffer: the backend copies it.
      if (residual_read_later) y = g.mul(y, x);
      g.setOutput(y);
      checkBackends(g, fmt::format("conv + sum, relu after {}, residual read later {}", relu_after,
                                   residual_read_later));
    }
  }
}

TEST_CASE("conv2d + batch norm (folded) matches the reference with batch norm separate", "[ops][conv][fusion]") {
  for (bool bias : {false, true}) {
    Graph g;
    int x = g.input({1, 6, 10, 10});
    x = g.conv2d(x, randomWeight({11, 6, 3, 3}), bias ? at::randn({11}) : at::Tensor(), 2, 1);
    x = g.batchNorm(x, at::rand({11}) + 0.5, at::randn({11}), at::randn({11}), at::rand({11}) + 0.1, 1e-5);
    g.setOutput(g.activation(x, Act::HSwish));
    checkBackends(g, fmt::format("conv (bias {}) + batch norm + hswish", bias));
  }
}
