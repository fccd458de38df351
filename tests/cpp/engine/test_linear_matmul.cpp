// linear (inner product) and the batched matmul of two activations (attention) on every backend against the
// reference: 2-D and 3-D inputs, odd sizes, with and without bias, fused activations, the linear over a
// flattened (blocked) feature map, and a @ b and a @ b^T with several heads.

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "engine/graph.hpp"
#include "engine/op_check.hpp"

using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::test::checkBackends;
using dyndnn::test::randomWeight;

TEST_CASE("linear on 2-D and 3-D inputs matches the reference", "[ops][linear]") {
  for (const auto& [tokens, in, out, bias] :
       std::vector<std::tuple<int, int, int, bool>>{{0, 37, 10, true}, {0, 128, 7, false}, {5, 24, 48, true},
                                                    {17, 13, 3, false}, {1, 1, 1, true}}) {
    Graph g;
    const int x = tokens ? g.input({1, tokens, in}) : g.input({1, in});
    g.setOutput(g.linear(x, randomWeight({out, in}), bias ? at::randn({out}) : at::Tensor()));
    checkBackends(g, fmt::format("linear {} -> {} over {} tokens, bias {}", in, out, tokens, bias), true,
                  in == 1 ? 1e-3 : 1e-2);
  }
}

TEST_CASE("linear + activation, fused, matches the reference", "[ops][linear][fusion]") {
  for (Act act : {Act::ReLU, Act::ReLU6, Act::HSwish, Act::HSigmoid, Act::Sigmoid, Act::GELU}) {
    Graph g;
    const int x = g.input({1, 9, 20});
    g.setOutput(g.activation(g.linear(x, randomWeight({33, 20}), at::randn({33})), act));
    checkBackends(g, std::string("linear + ") + dyndnn::engine::actName(act));
  }
}

TEST_CASE("linear + residual sum, fused (in place and onto a value read later), matches the reference",
          "[ops][linear][fusion]") {
  for (int tokens : {0, 1, 7}) {
    for (bool residual_read_later : {false, true}) {
      Graph g;
      const int x = tokens ? g.input({1, tokens, 16}) : g.input({1, 16});
      const int r = g.activation(x, Act::GELU);  // the residual stream
      const int y = g.add(r, g.linear(x, randomWeight({16, 16}), at::randn({16})));
      // read later: the sum cannot run in place over r, the plan works on a copy of it
      g.setOutput(residual_read_later ? g.mul(y, r) : g.activation(y, Act::ReLU));
      checkBackends(g, fmt::format("linear + sum over {} tokens, residual read later {}", tokens, residual_read_later));
    }
  }
}

TEST_CASE("linear over a flattened blocked feature map matches the reference", "[ops][linear]") {
  for (int size : {1, 3}) {
    Graph g;
    int x = g.input({1, 3, size == 1 ? 8 : 9, size == 1 ? 8 : 9});
    x = g.conv2d(x, randomWeight({21, 3, 3, 3}), at::randn({21}), size == 1 ? 8 : 3, 1);
    x = g.reshape(x, {1, 21 * size * size});
    g.setOutput(g.linear(x, randomWeight({10, 21 * size * size}), at::randn({10})));
    checkBackends(g, fmt::format("conv -> flatten ({}x{}) -> linear", size, size));
  }
}

TEST_CASE("matmul of two activations (a @ b, a @ b^T) matches the reference", "[ops][matmul]") {
  for (const auto& [heads, rows, dim] : std::vector<std::tuple<int, int, int>>{{1, 7, 16}, {3, 17, 8}, {4, 1, 5}}) {
    {  // a @ b^T: [h, rows, dim] @ [h, rows, dim]^T, as attention scores are
      Graph g;
      const int x = g.input({1, heads, rows, dim});
      g.setOutput(g.matmul(g.activation(x, Act::GELU), g.activation(x, Act::Sigmoid), true));
      checkBackends(g, fmt::format("a @ b^T, {} heads, {}x{}", heads, rows, dim));
    }
    {  // a @ b: [h, rows, dim] @ [h, dim, dim]
      Graph g;
      const int x = g.input({1, heads, rows + dim, dim});
      const int a = g.slice(x, 2, 0, rows), b = g.activation(g.slice(x, 2, rows, dim), Act::Sigmoid);
      g.setOutput(g.matmul(a, b, false));
      checkBackends(g, fmt::format("a @ b, {} heads, {}x{} @ {}x{}", heads, rows, dim, dim, dim));
    }
  }
}

TEST_CASE("attention: scores, softmax, weighted sum, as a ViT block computes them", "[ops][matmul]") {
  const int tokens = 10, dim = 12, heads = 3, hd = dim / heads;
  Graph g;
  const int x = g.input({1, tokens, dim});
  auto head_split = [&](int v) { return g.transpose(g.reshape(v, {1, tokens, heads, hd}), {0, 2, 1, 3}); };
  const int q = head_split(g.linear(x, randomWeight({dim, dim}), at::randn({dim})));
  const int k = head_split(g.linear(x, randomWeight({dim, dim}), at::randn({dim})));
  const int v = head_split(g.linear(x, randomWeight({dim, dim}), at::randn({dim})));
  const int scores = g.softmax(g.matmul(q, k, true), -1);
  const int out = g.reshape(g.transpose(g.matmul(scores, v, false), {0, 2, 1, 3}), {1, tokens, dim});
  g.setOutput(g.linear(out, randomWeight({dim, dim}), at::randn({dim})));
  checkBackends(g, "multi-head self-attention");
}
