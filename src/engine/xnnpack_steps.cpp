// The XNNPACK backend's per-node planning and operator creation (see xnnpack_steps.hpp).

#include "engine/xnnpack_steps.hpp"

#include <ATen/ATen.h>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "dyndnn/error.hpp"

namespace dyndnn::engine::xnnpack {
namespace {

// XNNPACK 2022's depthwise microkernels stop at 25 taps; a larger depthwise kernel runs on ours.
bool oursDepthwise(const Graph& g, const Node& n) {
  return n.op == Op::Conv2d && n.groups > 1 && n.groups == n.shape[1] && n.groups == g.node(n.inputs[0]).shape[1] &&
         n.weight.size(1) == 1 && n.kernel * n.kernel > 25;
}

// Activations XNNPACK applies as an output clamp of the operator before them.
bool clampOf(Act act, float& lo, float& hi) {
  if (act == Act::ReLU) lo = std::max(lo, 0.f);
  else if (act == Act::ReLU6) lo = std::max(lo, 0.f), hi = std::min(hi, 6.f);
  else return false;
  return true;
}

bool is4d(const Node& n) { return n.shape.size() == 4; }

}  // namespace

void check(xnn_status status, const Node& n, int id, const char* what) {
  if (status != xnn_status_success)
    throw Error(fmt::format("XNNPACK backend: node {} ({} {}): {} failed with status {}", id, opName(n.op), n.name,
                            what, static_cast<int>(status)));
}

Step planStep(const Graph& g, int id) {
  const Node& n = g.node(id);
  Step s;
  auto input_is_4d = [&] { return is4d(g.node(n.inputs[0])); };
  switch (n.op) {
    case Op::Conv2d: {
      s.kind = oursDepthwise(g, n) ? Kind::Depthwise : Kind::Conv;
      auto w = n.weight;
      if (n.scale.defined()) w = w * n.scale.view({-1, 1, 1, 1});
      s.weight = w.permute({0, 2, 3, 1}).contiguous();
      if (n.bias.defined()) s.bias = n.bias.contiguous();
      break;
    }
    case Op::Linear:
      if (input_is_4d()) break;  // over the W dimension of a 4-D value: ATen, on the logical layout
      s.kind = Kind::Linear;
      s.weight = n.weight.contiguous();
      if (n.bias.defined()) s.bias = n.bias.contiguous();
      break;
    case Op::GlobalAvgPool: s.kind = Kind::GlobalAvgPool; break;
    case Op::MaxPool: s.kind = Kind::MaxPool; break;
    case Op::AvgPool: s.kind = Kind::AvgPool; break;
    case Op::Add:
    case Op::Mul: {
      const auto& a = g.node(n.inputs[0]).shape;
      const auto& b = g.node(n.inputs[1]).shape;
      if (a.size() == b.size() && a.size() <= XNN_MAX_TENSOR_DIMS) s.kind = n.op == Op::Add ? Kind::Add : Kind::Mul;
      break;
    }
    case Op::Activation:
      if (n.act == Act::ReLU || n.act == Act::ReLU6) {
        s.kind = Kind::Clamp;
        clampOf(n.act, s.lo, s.hi);
      } else if (n.act == Act::HSwish) {
        s.kind = Kind::HSwish;
      } else if (n.act == Act::Sigmoid) {
        s.kind = Kind::Sigmoid;
      }
      break;
    default: break;
  }
  if (s.kind == Kind::GlobalAvgPool || s.kind == Kind::MaxPool || s.kind == Kind::AvgPool)
    if (!input_is_4d()) s.kind = Kind::ATen;
  // XNNPACK refuses a 1x1 window (a subsampling, no pooling): ATen.
  if ((s.kind == Kind::MaxPool || s.kind == Kind::AvgPool) && n.kernel == 1) s.kind = Kind::ATen;
  // Fused post-ops: leading clamps go into the operator (Conv, Linear, pools, Add, Mul take output_min/max),
  // whatever follows a sum or another activation runs after it.
  const bool takes_clamp = s.kind != Kind::ATen && s.kind != Kind::HSwish && s.kind != Kind::Sigmoid;
  bool clamping = takes_clamp;
  for (const auto& p : n.post) {
    if (clamping && p.kind == PostOp::Activation && clampOf(p.act, s.lo, s.hi)) continue;
    clamping = false;
    s.rest.push_back(p);
  }
  if (s.kind == Kind::Depthwise) {
    s.depthwise = std::make_shared<DepthwiseNhwc>(n.shape[1], n.kernel, n.stride, n.pad, s.weight.data_ptr<float>(),
                                                  s.bias.defined() ? s.bias.data_ptr<float>() : nullptr, s.lo, s.hi);
    s.weight = s.bias = at::Tensor();  // the kernel keeps its own packed copy
  }
  return s;
}

std::string kernelName(const Step& s, const Node& n) {
  std::string k;
  switch (s.kind) {
    case Kind::ATen: return "aten/cpu";
    case Kind::Conv:
      k = n.groups == 1                         ? "xnnpack:conv"
          : n.groups == n.shape[1] && n.weight.size(1) == 1 ? "xnnpack:dwconv"
                                                            : "xnnpack:gconv";
      break;
    case Kind::Depthwise:
      k = fmt::format("dyndnn:dwconv{}x{}:{}", n.kernel, n.kernel, DepthwiseNhwc::variant());
      break;
    case Kind::Linear: k = "xnnpack:fc"; break;
    case Kind::GlobalAvgPool: k = "xnnpack:gavgpool"; break;
    case Kind::MaxPool: k = "xnnpack:maxpool"; break;
    case Kind::AvgPool: k = "xnnpack:avgpool"; break;
    case Kind::Add: k = "xnnpack:add"; break;
    case Kind::Mul: k = "xnnpack:mul"; break;
    case Kind::Clamp: k = "xnnpack:clamp"; break;
    case Kind::HSwish: k = "xnnpack:hswish"; break;
    case Kind::Sigmoid: k = "xnnpack:sigmoid"; break;
  }
  if (!s.rest.empty()) k += " +aten";
  return k;
}

Operator createOperator(const Graph& g, int id, const Step& s) {
  const Node& n = g.node(id);
  xnn_operator_t op = nullptr;
  xnn_status st = xnn_status_success;
  const float* bias = s.bias.defined() ? s.bias.data_ptr<float>() : nullptr;
  auto channels = [&](int node) { return static_cast<std::size_t>(g.node(node).shape[1]); };
  switch (s.kind) {
    case Kind::ATen:
    case Kind::Depthwise: return nullptr;
    case Kind::Conv: {
      const auto in = channels(n.inputs[0]), out = static_cast<std::size_t>(n.shape[1]);
      const auto groups = static_cast<std::size_t>(n.groups);
      const auto p = static_cast<std::uint32_t>(n.pad), k = static_cast<std::uint32_t>(n.kernel),
                 st2 = static_cast<std::uint32_t>(n.stride);
      st = xnn_create_convolution2d_nhwc_f32(p, p, p, p, k, k, st2, st2, 1, 1, static_cast<std::uint32_t>(groups),
                                             in / groups, out / groups, in, out, s.weight.data_ptr<float>(), bias,
                                             s.lo, s.hi, 0, &op);
      break;
    }
    case Kind::Linear: {
      const auto in = static_cast<std::size_t>(n.weight.size(1)), out = static_cast<std::size_t>(n.weight.size(0));
      st = xnn_create_fully_connected_nc_f32(in, out, in, out, s.weight.data_ptr<float>(), bias, s.lo, s.hi, 0, &op);
      break;
    }
    case Kind::GlobalAvgPool: {
      const auto c = channels(n.inputs[0]);
      st = xnn_create_global_average_pooling_nwc_f32(c, c, c, s.lo, s.hi, 0, &op);
      break;
    }
    case Kind::MaxPool:
    case Kind::AvgPool: {
      const auto c = channels(n.inputs[0]);
      const auto p = static_cast<std::uint32_t>(n.pad), k = static_cast<std::uint32_t>(n.kernel),
                 st2 = static_cast<std::uint32_t>(n.stride);
      st = s.kind == Kind::MaxPool
               ? xnn_create_max_pooling2d_nhwc_f32(p, p, p, p, k, k, st2, st2, 1, 1, c, c, c, s.lo, s.hi, 0, &op)
               : xnn_create_average_pooling2d_nhwc_f32(p, p, p, p, k, k, st2, st2, c, c, c, s.lo, s.hi, 0, &op);
      break;
    }
    case Kind::Add: st = xnn_create_add_nd_f32(s.lo, s.hi, 0, &op); break;
    case Kind::Mul: st = xnn_create_multiply_nd_f32(s.lo, s.hi, 0, &op); break;
    case Kind::Clamp: st = xnn_create_clamp_nc_f32(1, 1, 1, s.lo, s.hi, 0, &op); break;
    case Kind::HSwish: st = xnn_create_hardswish_nc_f32(1, 1, 1, 0, &op); break;
    case Kind::Sigmoid: st = xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &op); break;
  }
  check(st, n, id, "creating the operator");
  return Operator(op);
}

}  // namespace dyndnn::engine::xnnpack
