#pragma once
// An op graph as JSON plus named tensors, and back: what a static package (one sub-network, nn/static_graph)
// stores. Only graphs as families lower them are written (no fused post-ops, no folded scales): a reader then
// rebuilds the graph with the typed builders, which check every shape again, and the backends apply their
// passes as they do for any family's graph.

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/graph.hpp"

namespace dyndnn::engine {

/// Named tensors, in the order they were first referenced.
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// The graph's nodes as JSON; every tensor it references is appended to `tensors` once (views of the same memory
/// share a name) as a contiguous CPU copy. Throws InvalidArgument for a graph that a pass has already rewritten.
nlohmann::json graphToJson(const Graph& graph, NamedTensors& tensors);

/// Looks up a tensor by name; `role` says what it is for (e.g. "weight of node #3 conv2d 'blocks.1.conv'").
using TensorLookup = std::function<at::Tensor(const std::string& name, const std::string& role)>;

/// The graph graphToJson() wrote. Throws InvalidArgument naming the node (index, op, layer name) and the field for
/// a malformed description or inconsistent shapes; tensors come from `tensor`, which throws for a missing one.
Graph graphFromJson(const nlohmann::json& j, const TensorLookup& tensor);

}  // namespace dyndnn::engine
