// The op graph itself: shapes inferred per op, bad graphs rejected with messages that name the node and what
// is wrong, MACs, and the text form `dyndnn info --graph` prints.

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "engine/execution_plan.hpp"
#include "engine/graph.hpp"

using dyndnn::InvalidArgument;
using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::engine::Shape;
using Catch::Matchers::Contains;

TEST_CASE("graph: shapes follow each op", "[graph]") {
  Graph g;
  const int x = g.input({1, 3, 32, 30});
  const int c = g.conv2d(x, at::zeros({8, 3, 3, 3}), at::Tensor(), 2, 1, "stem");
  CHECK(g.node(c).shape == Shape{1, 8, 16, 15});
  const int d = g.conv2d(c, at::zeros({8, 1, 5, 5}), at::zeros({8}), 1, 2);
  CHECK(g.node(d).groups == 8);
  CHECK(g.node(g.maxPool(d, 3, 2, 1)).shape == Shape{1, 8, 8, 8});
  CHECK(g.node(g.avgPool(d, 2, 2, 0)).shape == Shape{1, 8, 8, 7});
  const int p = g.globalAvgPool(d);
  CHECK(g.node(p).shape == Shape{1, 8, 1, 1});
  CHECK(g.node(g.mul(d, p)).shape == Shape{1, 8, 16, 15});
  const int t = g.transpose(g.reshape(d, {1, 8, 240}), {0, 2, 1});
  CHECK(g.node(t).shape == Shape{1, 240, 8});
  const int l = g.linear(t, at::zeros({12, 8}), at::zeros({12}));
  CHECK(g.node(l).shape == Shape{1, 240, 12});
  CHECK(g.node(g.matmul(l, l, true)).shape == Shape{1, 240, 240});
  CHECK(g.node(g.concat({g.slice(l, 1, 0, 1), l}, 1)).shape == Shape{1, 241, 12});
  CHECK(g.node(g.softmax(l, -1)).axis == 2);
  CHECK(g.macs(c) == 8 * 16 * 15 * 3 * 9);
  CHECK(g.macs(d) == 8 * 16 * 15 * 25);
  CHECK(g.macs(l) == 240 * 12 * 8);
  g.setOutput(l);
  const auto text = g.text();
  CHECK_THAT(text, Contains("conv2d k3 s2 p1") && Contains("stem") && Contains("[1,8,16,15]") &&
                       Contains("conv2d k5 s1 p2 g8") && Contains("linear"));
}

TEST_CASE("graph: bad nodes are rejected with what, where and what to do", "[graph]") {
  Graph g;
  const int x = g.input({1, 3, 8, 8});
  CHECK_THROWS_WITH(g.conv2d(x, at::zeros({8, 2, 3, 3}), at::Tensor(), 1, 1, "blocks.1"),
                    Contains("conv2d node 'blocks.1'") && Contains("groups"));
  CHECK_THROWS_WITH(g.conv2d(x, at::zeros({8, 3, 9, 9}), at::Tensor(), 1, 0), Contains("does not fit"));
  CHECK_THROWS_WITH(g.conv2d(x, at::zeros({8, 3, 3, 3}), at::zeros({7}), 1, 1), Contains("bias"));
  CHECK_THROWS_WITH(g.linear(x, at::zeros({4, 3}), at::Tensor()), Contains("does not take 8 input features"));
  CHECK_THROWS_WITH(g.add(x, g.globalAvgPool(g.conv2d(x, at::zeros({4, 3, 1, 1}), {}, 1, 0))),
                    Contains("do not broadcast"));
  CHECK_THROWS_WITH(g.reshape(x, {1, 100}), Contains("cannot become"));
  CHECK_THROWS_WITH(g.transpose(x, {1, 0, 2, 3}), Contains("keep axis 0"));
  CHECK_THROWS_WITH(g.slice(x, 2, 6, 3), Contains("not inside axis 2"));
  CHECK_THROWS_WITH(g.softmax(x, 0), Contains("not a non-batch axis"));
  CHECK_THROWS_WITH(g.activation(x, Act::None), Contains("leave the node out"));
  CHECK_THROWS_WITH(g.matmul(x, g.slice(x, 2, 0, 5), false), Contains("do not multiply"));
  CHECK_THROWS_WITH(g.add(x, 99), Contains("node %99, which does not exist"));
  CHECK_THROWS_AS(g.input({1, 3}), InvalidArgument);  // only one input
}

TEST_CASE("backends: names round-trip, unknown names are refused, reference kernels are recognised", "[graph]") {
  using dyndnn::engine::Backend;
  for (Backend b : {Backend::Auto, Backend::OneDnn, Backend::Xnnpack, Backend::ATen, Backend::Reference})
    CHECK(dyndnn::engine::backendNamed(dyndnn::engine::backendName(b)) == b);
  CHECK_THROWS_WITH(dyndnn::engine::backendNamed("fast"), Catch::Contains("use auto, onednn, xnnpack"));
  // oneDNN's names for its portable loops, and names of real kernels that merely contain the letters
  for (const char* k : {"gemm:ref", "ref:any", "ref_fused_convolution:any", "ref"})
    CHECK(dyndnn::engine::isReferenceKernel(k));
  for (const char* k : {"brgconv_1x1:avx512_core", "jit:sve_512", "xnnpack:conv", "aten/cpu", "prefetch:jit",
                        "simple_layer_normalization:any", "view", ""})
    CHECK_FALSE(dyndnn::engine::isReferenceKernel(k));
}
