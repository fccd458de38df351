// The backend-neutral passes: batch-norm folding (numerically, against the unfolded graph), fusion (which
// nodes merge and which must not), dead-node removal, and the buffer planner (values alive at once never share
// a buffer; dead values' buffers are reused).

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <catch2/catch.hpp>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"
#include "engine/passes.hpp"
#include "engine/reference.hpp"
#include "fixtures.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::engine::Op;
using dyndnn::engine::PostOp;
using dyndnn::test::randomWeight;
using dyndnn::test::relativeError;

namespace {

std::size_t count(const Graph& g, Op op) {
  std::size_t n = 0;
  for (const auto& node : g.nodes()) n += node.op == op;
  return n;
}

}  // namespace

TEST_CASE("passes: batch norm folds into the convolution before it, with the same output", "[passes]") {
  at::NoGradGuard no_grad;
  Graph g;
  int x = g.input({1, 4, 9, 9});
  x = g.conv2d(x, randomWeight({6, 4, 3, 3}), at::Tensor(), 1, 1);
  x = g.batchNorm(x, at::rand({6}) + 0.5, at::randn({6}), at::randn({6}), at::rand({6}) + 0.1, 1e-5);
  const int kept = g.batchNorm(g.activation(x, Act::ReLU), at::rand({6}), at::randn({6}), at::randn({6}),
                               at::rand({6}) + 0.1, 1e-3);
  g.setOutput(kept);
  const auto folded = dyndnn::engine::removeDead(dyndnn::engine::foldBatchNorm(g));
  CHECK(count(folded, Op::BatchNorm) == 1);  // the one after the ReLU has nothing to fold into
  CHECK(folded.node(1).bias.defined());
  const auto in = at::randn({2, 4, 9, 9});
  CHECK(relativeError(dyndnn::engine::runReference(folded, in), dyndnn::engine::runReference(g, in)) < 1e-5);
}

TEST_CASE("passes: fusion merges activations and residual sums only where nothing else reads", "[passes]") {
  Graph g;
  int x = g.input({1, 4, 8, 8});
  const int a = g.conv2d(x, randomWeight({4, 4, 1, 1}), at::Tensor(), 1, 0);
  const int a_relu = g.activation(a, Act::ReLU);                               // fuses into a
  const int b = g.conv2d(a_relu, randomWeight({4, 4, 3, 3}), at::Tensor(), 1, 1);
  const int sum = g.add(b, a_relu);                                            // fuses into b as a sum
  const int out = g.activation(sum, Act::HSwish);                              // then into b after the sum
  const int c = g.conv2d(out, randomWeight({4, 4, 1, 1}), at::Tensor(), 1, 0);
  const int c_act = g.activation(c, Act::Sigmoid);                             // c is read twice: stays
  g.setOutput(g.mul(c_act, c));
  const auto f = dyndnn::engine::removeDead(dyndnn::engine::fuse(g));
  CHECK(count(f, Op::Add) == 0);
  CHECK(count(f, Op::Activation) == 1);
  const auto& fb = f.node(2);
  REQUIRE(fb.post.size() == 2);
  CHECK(fb.post[0].kind == PostOp::Sum);
  CHECK(fb.post[0].value == 1);  // a (with its ReLU)
  CHECK(fb.post[1].act == Act::HSwish);
  CHECK(f.node(1).post.size() == 1);
  at::NoGradGuard no_grad;
  const auto in = at::randn({1, 4, 8, 8});
  CHECK(relativeError(dyndnn::engine::runReference(f, in), dyndnn::engine::runReference(g, in)) < 1e-5);
}

TEST_CASE("passes: a sum never fuses into a convolution computed before its other operand", "[passes]") {
  Graph g;
  const int x = g.input({1, 2, 5, 5});
  const int early = g.conv2d(x, randomWeight({2, 2, 1, 1}), at::Tensor(), 1, 0);
  const int late = g.activation(x, Act::GELU);
  g.setOutput(g.add(early, late));
  const auto f = dyndnn::engine::optimise(g);
  CHECK(count(f, Op::Add) == 1);
}

TEST_CASE("passes: dead nodes go, the order and the output stay", "[passes]") {
  Graph g;
  const int x = g.input({1, 3});
  g.activation(x, Act::ReLU);  // nobody reads it
  const int y = g.linear(x, randomWeight({5, 3}), at::Tensor());
  g.softmax(y, 1);  // nor this
  g.setOutput(g.activation(y, Act::Sigmoid));
  const auto d = dyndnn::engine::removeDead(g);
  REQUIRE(d.nodes().size() == 3);
  CHECK(d.node(1).op == Op::Linear);
  CHECK(d.node(2).inputs == std::vector<int>{1});
  CHECK(d.output() == 2);
}

TEST_CASE("buffer planner: live values never share a buffer, dead ones' buffers are reused", "[passes]") {
  // A chain of ten convolutions and a long-lived skip: the chain needs only a few buffers.
  Graph g;
  const int x = g.input({1, 4, 6, 6});
  const int skip = g.conv2d(x, randomWeight({4, 4, 1, 1}), at::Tensor(), 1, 0);
  int y = skip;
  for (int i = 0; i < 10; ++i) y = g.conv2d(y, randomWeight({4, 4, 1, 1}), at::Tensor(), 1, 0);
  g.setOutput(g.mul(y, skip));
  dyndnn::engine::BufferPlanner planner(g);
  std::vector<int> buffer(g.nodes().size(), -1);
  for (int i = 1; i < static_cast<int>(g.nodes().size()); ++i) buffer[static_cast<std::size_t>(i)] = planner.place(i, 100 + i);
  CHECK(planner.sizes().size() <= 4);
  const auto last = dyndnn::engine::lastUses(g);
  for (int i = 1; i < static_cast<int>(g.nodes().size()); ++i)
    for (int j = i + 1; j < static_cast<int>(g.nodes().size()); ++j)
      if (buffer[static_cast<std::size_t>(i)] == buffer[static_cast<std::size_t>(j)])
        CHECK(last[static_cast<std::size_t>(i)] < j);  // i was dead before j was written
  for (std::size_t b = 0; b < planner.sizes().size(); ++b) {
    for (std::size_t i = 1; i < buffer.size(); ++i)
      if (buffer[i] == static_cast<int>(b)) CHECK(planner.sizes()[b] >= 100 + i);
  }
}

TEST_CASE("passes: kernel taps that only ever read padding are trimmed, with the same output", "[passes]") {
  at::NoGradGuard no_grad;
  struct Case {
    std::int64_t size;
    int kernel, stride, trimmed_kernel, trimmed_pad;
  };
  // 7x7 on 2x2 keeps the centre 3x3; 7x7 stride 2 on 4x4 keeps 6x6; 5x5 on 1x1 keeps the centre tap; 3x3 on
  // 8x8 reads the input with every tap and stays.
  for (const Case c : {Case{2, 7, 1, 3, 1}, Case{4, 7, 2, 6, 2}, Case{1, 5, 1, 1, 0}, Case{8, 3, 1, 3, 1}}) {
    CAPTURE(c.size, c.kernel, c.stride);
    Graph g;
    int x = g.input({1, 16, c.size, c.size});
    x = g.conv2d(x, randomWeight({16, 1, c.kernel, c.kernel}), at::randn({16}), c.stride, c.kernel / 2);  // depthwise
    x = g.conv2d(x, randomWeight({8, 16, c.kernel, c.kernel}), at::Tensor(), 1, c.kernel / 2);             // dense
    g.setOutput(x);
    const auto t = dyndnn::engine::trimPaddingTaps(g);
    for (int id : {1, 2}) CHECK(t.node(id).weight.size(2) == t.node(id).kernel);
    CHECK(t.node(1).kernel == c.trimmed_kernel);
    CHECK(t.node(1).pad == c.trimmed_pad);
    CHECK(t.node(2).shape == g.node(2).shape);
    CHECK(t.totalMacs() <= g.totalMacs());
    const auto in = at::randn({2, 16, c.size, c.size});
    const auto want = dyndnn::engine::runReference(g, in);
    CHECK(relativeError(dyndnn::engine::runReference(t, in), want) < 1e-5);
    // The output depends on the input (the trimmed taps are the ones that matter).
    CHECK(relativeError(dyndnn::engine::runReference(t, at::randn_like(in)), want) > 0.1);
  }
}
