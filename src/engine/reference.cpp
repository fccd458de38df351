#include "engine/reference.hpp"

#include <ATen/ATen.h>

#include "dyndnn/error.hpp"

namespace dyndnn::engine {

at::Tensor activate(const at::Tensor& x, Act act) {
  switch (act) {
    case Act::None: return x;
    case Act::ReLU: return at::relu(x);
    case Act::ReLU6: return at::hardtanh(x, 0.0, 6.0);
    case Act::HSwish: return at::hardswish(x);
    case Act::HSigmoid: return at::hardsigmoid(x);
    case Act::Sigmoid: return at::sigmoid(x);
    case Act::GELU: return at::gelu(x);
  }
  return x;
}

at::Tensor runNodeReference(const Node& n, const std::vector<at::Tensor>& values) {
  auto in = [&](std::size_t i) -> const at::Tensor& { return values[static_cast<std::size_t>(n.inputs[i])]; };
  switch (n.op) {
    case Op::Input: break;
    case Op::Constant: return n.weight;
    case Op::Conv2d: {
      if (!n.scale.defined())
        return at::conv2d(in(0), n.weight, n.bias, {n.stride, n.stride}, {n.pad, n.pad}, {1, 1}, n.groups);
      auto y = at::conv2d(in(0), n.weight, {}, {n.stride, n.stride}, {n.pad, n.pad}, {1, 1}, n.groups);
      y = y * n.scale.view({1, -1, 1, 1});
      return n.bias.defined() ? y + n.bias.view({1, -1, 1, 1}) : y;
    }
    case Op::Linear: return at::linear(in(0), n.weight, n.bias);
    case Op::MatMul: return at::matmul(in(0), n.transpose_b ? in(1).transpose(-1, -2) : in(1));
    case Op::BatchNorm:
      return at::batch_norm(in(0), n.weight, n.bias, n.mean, n.var, /*training=*/false, 0.0, n.eps,
                            /*cudnn_enabled=*/false);
    case Op::GlobalAvgPool: return in(0).mean({2, 3}, /*keepdim=*/true);
    case Op::MaxPool: return at::max_pool2d(in(0), {n.kernel, n.kernel}, {n.stride, n.stride}, {n.pad, n.pad});
    case Op::AvgPool:
      return at::avg_pool2d(in(0), {n.kernel, n.kernel}, {n.stride, n.stride}, {n.pad, n.pad}, /*ceil_mode=*/false,
                            /*count_include_pad=*/false);
    case Op::Add: return in(0) + in(1);
    case Op::Mul: return in(0) * in(1);
    case Op::Activation: return activate(in(0), n.act);
    case Op::LayerNorm: return at::layer_norm(in(0), {n.shape.back()}, n.weight, n.bias, n.eps);
    case Op::Softmax: return at::softmax(in(0), n.axis);
    case Op::Reshape: {
      auto dims = n.dims;
      dims[0] = in(0).size(0);  // the batch, or 1 for a value computed from constants alone
      return in(0).reshape(dims);
    }
    case Op::Transpose: return in(0).permute(n.dims);
    case Op::Slice: return in(0).narrow(n.axis, n.start, n.length);
    case Op::Concat: {
      std::vector<at::Tensor> xs;
      for (std::size_t i = 0; i < n.inputs.size(); ++i) xs.push_back(in(i));
      return at::cat(xs, n.axis);
    }
  }
  throw Error("reference executor: unknown op");
}

at::Tensor runReference(const Graph& g, const at::Tensor& input) {
  const auto& expected = g.inputShape();
  if (input.dim() != static_cast<std::int64_t>(expected.size()) ||
      !std::equal(expected.begin() + 1, expected.end(), input.sizes().begin() + 1))
    throw InvalidArgument("op graph input: got a tensor of the wrong shape; the graph takes " + shapeText(expected) +
                          " with any batch");
  std::vector<at::Tensor> values(g.nodes().size());
  values[0] = input;
  for (std::size_t i = 1; i < values.size(); ++i) {
    const auto& n = g.nodes()[i];
    auto y = runNodeReference(n, values);
    for (const auto& p : n.post)
      y = p.kind == PostOp::Sum ? y + values[static_cast<std::size_t>(p.value)] : activate(y, p.act);
    values[i] = std::move(y);
  }
  return values[static_cast<std::size_t>(g.output())];
}

}  // namespace dyndnn::engine
