// The op graph as JSON plus named tensors (engine/graph_io.hpp), what static packages store: every op and
// attribute survives the round trip (the reference output is unchanged), shared views are stored once, and a
// damaged description is refused with the node and the field named.

#include <ATen/ATen.h>

#include <catch2/catch.hpp>

#include <map>

#include "dyndnn/error.hpp"
#include "engine/graph_io.hpp"
#include "engine/passes.hpp"
#include "engine/reference.hpp"
#include "fixtures.hpp"
#include "op_check.hpp"

using dyndnn::InvalidArgument;
using dyndnn::engine::Act;
using dyndnn::engine::Graph;
using dyndnn::engine::NamedTensors;
using Catch::Matchers::Contains;

namespace {

// A graph with every op of engine/graph.hpp, random weights, and one weight view read by two nodes.
Graph everyOp() {
  using dyndnn::test::randomWeight;
  Graph g;
  const int x = g.input({1, 3, 12, 12});
  const auto stem = randomWeight({8, 3, 3, 3});
  int y = g.shareable(g.conv2d(x, stem, at::Tensor(), 1, 1, "stem"));
  y = g.batchNorm(y, at::rand({8}) + 0.5, at::randn({8}), at::randn({8}) * 0.1, at::rand({8}) + 0.5, 1e-3, "stem.bn");
  y = g.activation(y, Act::HSwish);
  const int dw = g.conv2d(y, randomWeight({8, 1, 5, 5}), at::randn({8}) * 0.1, 2, 2, "dw");
  const int se = g.activation(g.globalAvgPool(dw), Act::HSigmoid);
  y = g.activation(g.mul(dw, se), Act::ReLU6);
  y = g.add(y, g.activation(g.maxPool(y, 3, 1, 1), Act::Sigmoid));
  y = g.avgPool(y, 2, 2, 0);                                  // [1, 8, 3, 3]
  y = g.transpose(g.reshape(y, {1, 8, 9}), {0, 2, 1});        // [1, 9, 8] tokens
  y = g.concat({g.constant(at::randn({1, 1, 8}), "cls"), y}, 1);  // [1, 10, 8]
  y = g.layerNorm(y, at::rand({8}) + 0.5, at::randn({8}) * 0.1, 1e-6, "norm");
  const int q = g.linear(y, randomWeight({8, 8}), at::randn({8}) * 0.1, "q");
  const int attn = g.softmax(g.matmul(q, y, true), -1);
  y = g.activation(g.matmul(attn, y, false), Act::GELU);
  y = g.reshape(g.slice(y, 1, 0, 1), {1, 8});
  y = g.shareable(g.linear(y, randomWeight({5, 8}), at::randn({5}), "head"));
  // The stem's weight again, as a second convolution on the input: one tensor in the file.
  const int again = g.reshape(g.globalAvgPool(g.conv2d(x, stem, at::Tensor(), 1, 1, "stem_again")), {1, 8});
  y = g.add(y, g.slice(again, 1, 0, 5));
  g.setOutput(y);
  return g;
}

// Looks tensors up in what graphToJson wrote.
dyndnn::engine::TensorLookup lookupIn(const NamedTensors& tensors) {
  return [&tensors](const std::string& name, const std::string& role) {
    for (const auto& [n, t] : tensors)
      if (n == name) return t;
    throw InvalidArgument("no tensor '" + name + "' (" + role + ")");
  };
}

}  // namespace

TEST_CASE("graph io: every op survives the round trip and shared views are stored once", "[graph]") {
  at::manual_seed(11);
  const Graph g = everyOp();
  NamedTensors tensors;
  const auto j = dyndnn::engine::graphToJson(g, tensors);
  const Graph back = dyndnn::engine::graphFromJson(j, lookupIn(tensors));
  REQUIRE(back.nodes().size() == g.nodes().size());
  CHECK(back.text() == g.text());  // ops, attributes, shapes, MACs and names
  for (std::size_t i = 0; i < g.nodes().size(); ++i) CHECK(back.nodes()[i].shareable == g.nodes()[i].shareable);
  std::map<std::string, int> names;
  for (const auto& [name, t] : tensors) ++names[name];
  for (const auto& [name, count] : names) CHECK(count == 1);
  int stem_refs = 0;
  for (const auto& n : j["nodes"])
    if (n.value("weight", "") == "stem.weight") ++stem_refs;
  CHECK(stem_refs == 2);

  const auto a = at::randn({1, 3, 12, 12}), b = at::randn({1, 3, 12, 12});
  const auto ya = dyndnn::engine::runReference(g, a);
  CHECK(dyndnn::test::relativeError(dyndnn::engine::runReference(back, a), ya) == 0.0);
  CHECK(dyndnn::test::relativeError(dyndnn::engine::runReference(g, b), ya) > 1e-2);  // the output reads the input
}

TEST_CASE("graph io: an optimised graph is refused, damaged descriptions name the node and field", "[graph]") {
  at::manual_seed(12);
  const Graph g = everyOp();
  NamedTensors tensors;
  CHECK_THROWS_WITH(dyndnn::engine::graphToJson(dyndnn::engine::optimise(g), tensors),
                    Contains("already optimised") && Contains("as lowered"));
  tensors.clear();
  const auto good = dyndnn::engine::graphToJson(g, tensors);
  const auto lookup = lookupIn(tensors);
  auto damaged = [&](auto edit) {
    auto j = good;
    edit(j);
    return j;
  };
  using J = nlohmann::json;
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][3]["inputs"] = {7}; }), lookup),
                    Contains("node #3") && Contains("'inputs'") && Contains("not an earlier node"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][1]["op"] = "conv3d"; }), lookup),
                    Contains("node #1 conv3d") && Contains("unknown op"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][1].erase("stride"); }), lookup),
                    Contains("node #1 conv2d 'stem'") && Contains("'stride' is missing"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][3]["act"] = "swish"; }), lookup),
                    Contains("node #3") && Contains("'act' must be one of"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][1]["weight"] = "head.weight"; }), lookup),
                    Contains("node #1 conv2d 'stem'") && Contains("[O, I/groups, k, k]"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][1]["weight"] = "nothing"; }), lookup),
                    Contains("no tensor 'nothing'") && Contains("weight of node #1 conv2d 'stem'"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["output"] = 1000; }), lookup),
                    Contains("'output' must be the index of a node"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(damaged([](J& j) { j["nodes"][0]["op"] = "add"; }), lookup),
                    Contains("node #0 must be the input"));
  CHECK_THROWS_WITH(dyndnn::engine::graphFromJson(J::array(), lookup), Contains("non-empty list 'nodes'"));
}
