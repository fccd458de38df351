#include "engine/graph.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "dyndnn/error.hpp"

namespace dyndnn::engine {

const char* opName(Op op) {
  switch (op) {
    case Op::Input: return "input";
    case Op::Constant: return "constant";
    case Op::Conv2d: return "conv2d";
    case Op::Linear: return "linear";
    case Op::MatMul: return "matmul";
    case Op::BatchNorm: return "batch_norm";
    case Op::GlobalAvgPool: return "global_avg_pool";
    case Op::MaxPool: return "max_pool";
    case Op::AvgPool: return "avg_pool";
    case Op::Add: return "add";
    case Op::Mul: return "mul";
    case Op::Activation: return "activation";
    case Op::LayerNorm: return "layer_norm";
    case Op::Softmax: return "softmax";
    case Op::Reshape: return "reshape";
    case Op::Transpose: return "transpose";
    case Op::Slice: return "slice";
    case Op::Concat: return "concat";
  }
  return "?";
}

const char* actName(Act act) {
  switch (act) {
    case Act::None: return "none";
    case Act::ReLU: return "relu";
    case Act::ReLU6: return "relu6";
    case Act::HSwish: return "hswish";
    case Act::HSigmoid: return "hsigmoid";
    case Act::Sigmoid: return "sigmoid";
    case Act::GELU: return "gelu";
  }
  return "?";
}

std::int64_t numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>());
}

std::string shapeText(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ",")); }

namespace {

Shape tensorShape(const at::Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end()); }

[[noreturn]] void bad(const Node& n, const std::string& what) {
  throw InvalidArgument(fmt::format("op graph: {} node{}: {}", opName(n.op), n.name.empty() ? "" : " '" + n.name + "'",
                                    what));
}

// The output size of a sliding window, or an error naming the node.
std::int64_t windowOut(const Node& n, std::int64_t in) {
  // Checked before dividing: a graph read from a file (static packages) can say stride 0.
  const bool fits = n.kernel >= 1 && n.stride >= 1 && n.pad >= 0;
  const auto out = fits ? (in + 2 * n.pad - n.kernel) / n.stride + 1 : 0;
  if (!fits || out < 1)
    bad(n, fmt::format("kernel {} stride {} pad {} does not fit an input of {} (kernel and stride >= 1, pad >= 0)",
                       n.kernel, n.stride, n.pad, in));
  return out;
}

int normaliseAxis(const Node& n, int axis, std::size_t rank) {
  const int r = static_cast<int>(rank);
  const int a = axis < 0 ? axis + r : axis;
  if (a < 1 || a >= r) bad(n, fmt::format("axis {} is not a non-batch axis of a rank-{} value (use 1..{})", axis, r, r - 1));
  return a;
}

}  // namespace

const Node& Graph::checked(int id, const char* what) const {
  if (id < 0 || id >= static_cast<int>(nodes_.size()))
    throw InvalidArgument(fmt::format("op graph: {} refers to node %{}, which does not exist (graph has {} nodes)",
                                      what, id, nodes_.size()));
  return nodes_[static_cast<std::size_t>(id)];
}

int Graph::push(Node n) {
  nodes_.push_back(std::move(n));
  return static_cast<int>(nodes_.size()) - 1;
}

int Graph::append(Node n) {
  for (int i : n.inputs) checked(i, opName(n.op));
  return push(std::move(n));
}

int Graph::input(Shape shape) {
  if (!nodes_.empty()) throw InvalidArgument("op graph: input() must be the first node, and the only input");
  if (shape.empty() || shape[0] != 1) throw InvalidArgument("op graph: the input shape starts with the batch (1)");
  for (auto d : shape)  // every later shape is derived from this one; a graph read from a file can say 0
    if (d < 1) throw InvalidArgument(fmt::format("op graph: input shape {}: every dimension must be at least 1", shapeText(shape)));
  Node n;
  n.op = Op::Input;
  n.shape = std::move(shape);
  return push(std::move(n));
}

int Graph::constant(at::Tensor value, std::string name) {
  Node n;
  n.op = Op::Constant;
  n.name = std::move(name);
  if (!value.defined() || value.dim() < 1 || value.size(0) != 1)
    bad(n, "a constant's first dimension is the batch (1)");
  n.shape = tensorShape(value);
  n.weight = std::move(value);
  return push(std::move(n));
}

int Graph::conv2d(int x, at::Tensor weight, at::Tensor bias, int stride, int pad, std::string name) {
  Node n;
  n.op = Op::Conv2d;
  n.name = std::move(name);
  n.inputs = {x};
  const auto& in = checked(x, "conv2d").shape;
  if (in.size() != 4) bad(n, fmt::format("input {} is not NCHW", shapeText(in)));
  if (weight.dim() != 4 || weight.size(2) != weight.size(3))
    bad(n, fmt::format("weight {} is not [O, I/groups, k, k]", shapeText(tensorShape(weight))));
  const auto per_group = weight.size(1);
  if (per_group < 1 || in[1] % per_group != 0 || weight.size(0) % (in[1] / per_group) != 0)
    bad(n, fmt::format("weight {} does not divide the input's {} channels into groups", shapeText(tensorShape(weight)),
                       in[1]));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0)))
    bad(n, fmt::format("bias {} does not match {} output channels", shapeText(tensorShape(bias)), weight.size(0)));
  n.groups = static_cast<int>(in[1] / per_group);
  n.kernel = static_cast<int>(weight.size(2));
  n.stride = stride;
  n.pad = pad;
  n.shape = {in[0], weight.size(0), windowOut(n, in[2]), windowOut(n, in[3])};
  n.weight = std::move(weight);
  n.bias = std::move(bias);
  return push(std::move(n));
}

int Graph::linear(int x, at::Tensor weight, at::Tensor bias, std::string name) {
  Node n;
  n.op = Op::Linear;
  n.name = std::move(name);
  n.inputs = {x};
  auto shape = checked(x, "linear").shape;
  if (shape.size() < 2) bad(n, fmt::format("input {} has no feature dimension", shapeText(shape)));
  if (weight.dim() != 2 || weight.size(1) != shape.back())
    bad(n, fmt::format("weight {} does not take {} input features", shapeText(tensorShape(weight)), shape.back()));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0)))
    bad(n, fmt::format("bias {} does not match {} outputs", shapeText(tensorShape(bias)), weight.size(0)));
  shape.back() = weight.size(0);
  n.shape = shape;
  n.weight = std::move(weight);
  n.bias = std::move(bias);
  return push(std::move(n));
}

int Graph::matmul(int a, int b, bool transpose_b, std::string name) {
  Node n;
  n.op = Op::MatMul;
  n.name = std::move(name);
  n.inputs = {a, b};
  n.transpose_b = transpose_b;
  const auto& sa = checked(a, "matmul").shape;
  const auto& sb = checked(b, "matmul").shape;
  if (sa.size() < 3 || sa.size() != sb.size())
    bad(n, fmt::format("operands {} and {} are not batched matrices of one rank (>= 3)", shapeText(sa), shapeText(sb)));
  const auto k_b = transpose_b ? sb.back() : sb[sb.size() - 2];
  const auto cols = transpose_b ? sb[sb.size() - 2] : sb.back();
  if (sa.back() != k_b || !std::equal(sa.begin(), sa.end() - 2, sb.begin()))
    bad(n, fmt::format("{} @ {}{} do not multiply", shapeText(sa), shapeText(sb), transpose_b ? "^T" : ""));
  n.shape = sa;
  n.shape.back() = cols;
  return push(std::move(n));
}

int Graph::batchNorm(int x, at::Tensor weight, at::Tensor bias, at::Tensor mean, at::Tensor var, double eps,
                     std::string name) {
  Node n;
  n.op = Op::BatchNorm;
  n.name = std::move(name);
  n.inputs = {x};
  n.shape = checked(x, "batch_norm").shape;
  if (n.shape.size() != 4) bad(n, fmt::format("input {} is not NCHW", shapeText(n.shape)));
  for (const auto* t : {&weight, &bias, &mean, &var})
    if (t->dim() != 1 || t->size(0) != n.shape[1])
      bad(n, fmt::format("parameter {} does not match {} channels", shapeText(tensorShape(*t)), n.shape[1]));
  n.weight = std::move(weight);
  n.bias = std::move(bias);
  n.mean = std::move(mean);
  n.var = std::move(var);
  n.eps = eps;
  return push(std::move(n));
}

int Graph::globalAvgPool(int x) {
  Node n;
  n.op = Op::GlobalAvgPool;
  n.inputs = {x};
  const auto& in = checked(x, "global_avg_pool").shape;
  if (in.size() != 4) bad(n, fmt::format("input {} is not NCHW", shapeText(in)));
  n.shape = {in[0], in[1], 1, 1};
  return push(std::move(n));
}

static Node pool(const Graph& g, Op op, int x, int kernel, int stride, int pad) {
  Node n;
  n.op = op;
  n.inputs = {x};
  n.kernel = kernel;
  n.stride = stride;
  n.pad = pad;
  const auto& in = g.node(x).shape;
  if (in.size() != 4) bad(n, fmt::format("input {} is not NCHW", shapeText(in)));
  if (pad * 2 > kernel) bad(n, fmt::format("pad {} is more than half the kernel {}", pad, kernel));
  n.shape = {in[0], in[1], windowOut(n, in[2]), windowOut(n, in[3])};
  return n;
}

int Graph::maxPool(int x, int kernel, int stride, int pad) {
  checked(x, "max_pool");
  return push(pool(*this, Op::MaxPool, x, kernel, stride, pad));
}

int Graph::avgPool(int x, int kernel, int stride, int pad) {
  checked(x, "avg_pool");
  return push(pool(*this, Op::AvgPool, x, kernel, stride, pad));
}

static Node binary(const Graph& g, Op op, int a, int b) {
  Node n;
  n.op = op;
  n.inputs = {a, b};
  const auto& sa = g.node(a).shape;
  const auto& sb = g.node(b).shape;
  if (sa.size() != sb.size()) bad(n, fmt::format("operands {} and {} differ in rank", shapeText(sa), shapeText(sb)));
  n.shape = sa;
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (sa[i] != sb[i] && sa[i] != 1 && sb[i] != 1)
      bad(n, fmt::format("operands {} and {} do not broadcast (dimension {})", shapeText(sa), shapeText(sb), i));
    n.shape[i] = std::max(sa[i], sb[i]);
  }
  return n;
}

int Graph::add(int a, int b) {
  checked(a, "add");
  checked(b, "add");
  return push(binary(*this, Op::Add, a, b));
}

int Graph::mul(int a, int b) {
  checked(a, "mul");
  checked(b, "mul");
  return push(binary(*this, Op::Mul, a, b));
}

int Graph::activation(int x, Act act) {
  Node n;
  n.op = Op::Activation;
  n.inputs = {x};
  n.act = act;
  n.shape = checked(x, "activation").shape;
  if (act == Act::None) bad(n, "activation None: leave the node out instead");
  return push(std::move(n));
}

int Graph::layerNorm(int x, at::Tensor weight, at::Tensor bias, double eps, std::string name) {
  Node n;
  n.op = Op::LayerNorm;
  n.name = std::move(name);
  n.inputs = {x};
  n.shape = checked(x, "layer_norm").shape;
  if (n.shape.size() < 2) bad(n, fmt::format("input {} has no feature dimension", shapeText(n.shape)));
  for (const auto* t : {&weight, &bias})
    if (t->dim() != 1 || t->size(0) != n.shape.back())
      bad(n, fmt::format("parameter {} does not match {} features", shapeText(tensorShape(*t)), n.shape.back()));
  n.weight = std::move(weight);
  n.bias = std::move(bias);
  n.eps = eps;
  return push(std::move(n));
}

int Graph::softmax(int x, int axis) {
  Node n;
  n.op = Op::Softmax;
  n.inputs = {x};
  n.shape = checked(x, "softmax").shape;
  n.axis = normaliseAxis(n, axis, n.shape.size());
  return push(std::move(n));
}

int Graph::reshape(int x, Shape shape) {
  Node n;
  n.op = Op::Reshape;
  n.inputs = {x};
  const auto& in = checked(x, "reshape").shape;
  if (shape.empty() || shape[0] != 1 || numel(shape) != numel(in))
    bad(n, fmt::format("{} cannot become {} (same elements, batch 1 first)", shapeText(in), shapeText(shape)));
  n.shape = shape;
  n.dims = std::move(shape);
  return push(std::move(n));
}

int Graph::transpose(int x, Shape perm) {
  Node n;
  n.op = Op::Transpose;
  n.inputs = {x};
  const auto& in = checked(x, "transpose").shape;
  Shape sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  Shape identity(in.size());
  std::iota(identity.begin(), identity.end(), 0);
  if (sorted != identity || perm.empty() || perm[0] != 0)
    bad(n, fmt::format("permutation {} of a rank-{} value must permute 0..{} and keep axis 0", shapeText(perm),
                       in.size(), in.size() - 1));
  for (auto p : perm) n.shape.push_back(in[static_cast<std::size_t>(p)]);
  n.dims = std::move(perm);
  return push(std::move(n));
}

int Graph::slice(int x, int axis, std::int64_t start, std::int64_t length) {
  Node n;
  n.op = Op::Slice;
  n.inputs = {x};
  n.shape = checked(x, "slice").shape;
  n.axis = normaliseAxis(n, axis, n.shape.size());
  auto& d = n.shape[static_cast<std::size_t>(n.axis)];
  if (start < 0 || length < 1 || start + length > d)
    bad(n, fmt::format("elements {}..{} are not inside axis {} of size {}", start, start + length, n.axis, d));
  d = length;
  n.start = start;
  n.length = length;
  return push(std::move(n));
}

int Graph::concat(const std::vector<int>& xs, int axis) {
  Node n;
  n.op = Op::Concat;
  n.inputs = xs;
  if (xs.empty()) bad(n, "no inputs");
  n.shape = checked(xs[0], "concat").shape;
  n.axis = normaliseAxis(n, axis, n.shape.size());
  const auto a = static_cast<std::size_t>(n.axis);
  n.shape[a] = 0;
  for (int x : xs) {
    auto s = checked(x, "concat").shape;
    if (s.size() != n.shape.size()) bad(n, fmt::format("inputs differ in rank ({})", shapeText(s)));
    n.shape[a] += s[a];
    s[a] = n.shape[a];
    if (s != n.shape) bad(n, fmt::format("input {} differs from the others off axis {}", shapeText(s), a));
  }
  return push(std::move(n));
}

int Graph::shareable(int id) {
  checked(id, "shareable");
  nodes_[static_cast<std::size_t>(id)].shareable = true;
  return id;
}

void Graph::setOutput(int id) {
  checked(id, "setOutput");
  output_ = id;
}

std::int64_t Graph::macs(int id) const {
  const auto& n = node(id);
  switch (n.op) {
    case Op::Conv2d: return numel(n.shape) * (node(n.inputs[0]).shape[1] / n.groups) * n.kernel * n.kernel;
    case Op::Linear: return numel(n.shape) * node(n.inputs[0]).shape.back();
    case Op::MatMul: return numel(n.shape) * node(n.inputs[0]).shape.back();
    default: return 0;
  }
}

bool Graph::optimised() const {
  return std::any_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return !n.post.empty() || n.scale.defined(); });
}

std::int64_t Graph::totalMacs() const {
  std::int64_t total = 0;
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) total += macs(i);
  return total;
}

Graph Graph::skeleton() const {
  Graph g = *this;
  for (auto& n : g.nodes_) n.weight = n.bias = n.scale = n.mean = n.var = at::Tensor();
  return g;
}

namespace {

std::string attributes(const Node& n) {
  switch (n.op) {
    case Op::Conv2d: return fmt::format(" k{} s{} p{}{}", n.kernel, n.stride, n.pad, n.groups > 1 ? fmt::format(" g{}", n.groups) : "");
    case Op::MaxPool:
    case Op::AvgPool: return fmt::format(" k{} s{} p{}", n.kernel, n.stride, n.pad);
    case Op::Activation: return std::string(" ") + actName(n.act);
    case Op::Softmax:
    case Op::Concat: return fmt::format(" axis {}", n.axis);
    case Op::Slice: return fmt::format(" axis {} [{}:{}]", n.axis, n.start, n.start + n.length);
    case Op::Transpose: return " " + shapeText(n.dims);
    case Op::MatMul: return n.transpose_b ? " b^T" : "";
    default: return "";
  }
}

std::string postText(const Node& n) {
  std::string s;
  for (const auto& p : n.post)
    s += p.kind == PostOp::Sum ? fmt::format(" +sum(%{})", p.value) : fmt::format(" +{}", actName(p.act));
  return s;
}

}  // namespace

std::string Graph::text(const std::vector<std::string>* kernels) const {
  std::string out = fmt::format("{} nodes, {:.2f} MMACs, input {}, output %{} {}\n", nodes_.size(), totalMacs() / 1e6,
                                shapeText(inputShape()), output_, output_ >= 0 ? shapeText(outputShape()) : "?");
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    const auto& n = node(i);
    std::string ins;
    for (int x : n.inputs) ins += fmt::format("{}%{}", ins.empty() ? "" : ",", x);
    const auto m = macs(i);
    out += fmt::format("  %{:<4} {:<34} {:<12} -> {:<18} {:>9}  {}", i,
                       std::string(opName(n.op)) + attributes(n) + postText(n), ins, shapeText(n.shape),
                       m ? fmt::format("{:.2f}M", m / 1e6) : "", n.name);
    if (kernels && static_cast<std::size_t>(i) < kernels->size() && !(*kernels)[static_cast<std::size_t>(i)].empty())
      out += "  [" + (*kernels)[static_cast<std::size_t>(i)] + "]";
    out += "\n";
  }
  return out;
}

}  // namespace dyndnn::engine
