#pragma once
// The XNNPACK backend's per-node plan (xnnpack_plan.cpp runs it): which operator, if any, runs a node of the optimised
// graph, with its constants in XNNPACK's layout and the fused activations it takes as an output clamp. Only the
// XNNPACK backend includes this.

#include <ATen/core/Tensor.h>
#include <xnnpack.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/depthwise_nhwc.hpp"
#include "engine/graph.hpp"

namespace dyndnn::engine::xnnpack {

// How a node runs.
enum class Kind { ATen, Conv, Depthwise, Linear, GlobalAvgPool, MaxPool, AvgPool, Add, Mul, Clamp, HSwish, Sigmoid };

struct Step {
  Kind kind = Kind::ATen;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();  // a ReLU / ReLU6 fused into the operator's output clamp
  std::vector<PostOp> rest;     // fused steps XNNPACK cannot take (run after it, through ATen)
  at::Tensor weight, bias;      // Conv: [O, kh, kw, I/groups] (XNNPACK's layout), folded scale applied; Linear: [O, I]
  std::shared_ptr<const DepthwiseNhwc> depthwise;  // Depthwise: our kernel (immutable: shared by the instances)
};

struct OperatorDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using Operator = std::unique_ptr<xnn_operator, OperatorDeleter>;

/// The plan for node `id` of the optimised graph `g`.
Step planStep(const Graph& g, int id);
/// What `dyndnn info --kernels` shows for it ("xnnpack:conv", "dyndnn:dwconv7x7:neon", "aten/cpu", ...).
std::string kernelName(const Step& s, const Node& n);
/// XNNPACK's operator for the step (null where the node runs through ATen or our depthwise kernel).
Operator createOperator(const Graph& g, int id, const Step& s);
/// Throws dyndnn::Error naming the node when `status` is not success.
void check(xnn_status status, const Node& n, int id, const char* what);

}  // namespace dyndnn::engine::xnnpack
