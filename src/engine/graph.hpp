#pragma once
// The op graph every model family lowers to (nn/) and every backend compiles (engine/backends/): typed nodes
// in topological order, each producing one value with a static shape planned for batch 1 (dimension 0 is the
// batch everywhere; plans run batch N one image or one batch at a time). Constants are tensors, usually views
// into the memory-mapped package. Families build graphs with the methods below, which check shapes and say
// which node is wrong; passes (engine/passes.hpp) rewrite them; backends never see a family.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dyndnn::engine {

using Shape = std::vector<std::int64_t>;

enum class Op {
  Input,
  Constant,       // a tensor of the model (weight, shape [1, ...]): a positional embedding, a learned token
  Conv2d,         // weight [O, I/groups, k, k], optional bias [O]; NCHW
  Linear,         // weight [O, I], optional bias [O]; over the last dimension
  MatMul,         // batched a @ b (or a @ b^T) of two activations
  BatchNorm,      // inference batch norm (folded into the convolution before it by foldBatchNorm)
  GlobalAvgPool,  // NCHW -> NC11
  MaxPool,
  AvgPool,        // padding excluded from the divisor
  Add,            // elementwise, with broadcast of size-1 dimensions (numpy rules, equal ranks)
  Mul,
  Activation,
  LayerNorm,  // over the last dimension, with weight and bias
  Softmax,    // over `axis`
  Reshape,
  Transpose,  // permutation `dims` (keeps axis 0)
  Slice,      // `length` elements from `start` along `axis`
  Concat,     // along `axis`
};

enum class Act { None, ReLU, ReLU6, HSwish, HSigmoid, Sigmoid, GELU };

/// A step the fusion pass moved into the node before it: an activation, or the sum with another value.
struct PostOp {
  enum Kind { Activation, Sum } kind = Activation;
  Act act = Act::None;  // Activation
  int value = -1;       // Sum: the node whose value is added
};

struct Node {
  Op op = Op::Input;
  std::string name;          // the family's name for it (e.g. "blocks.3.depth_conv"); may be empty
  std::vector<int> inputs;   // ids of earlier nodes
  Shape shape;               // of the output, batch 1
  int kernel = 1, stride = 1, pad = 0, groups = 1;  // Conv2d, MaxPool, AvgPool
  Act act = Act::None;                              // Activation
  at::Tensor weight, bias;  // Conv2d, Linear, LayerNorm; BatchNorm: gamma, beta; Constant: its value (weight)
  at::Tensor scale;  // Conv2d after foldBatchNorm: per output channel, applied to the weights when packed
  at::Tensor mean, var;                             // BatchNorm
  double eps = 1e-5;                                // BatchNorm, LayerNorm
  Shape dims;                                       // Reshape: target shape; Transpose: permutation
  int axis = 0;                                     // Slice, Concat, Softmax
  std::int64_t start = 0, length = 0;               // Slice
  bool transpose_b = false;                         // MatMul: b is [..., N, K]
  std::vector<PostOp> post;                         // filled by the fusion pass
  // The weight is a view of storage that outlives every plan (the memory-mapped package): a backend may keep
  // one packed copy of it for all the plans that use the same view with the same scale.
  bool shareable = false;
};

const char* opName(Op op);
const char* actName(Act act);

class Graph {
 public:
  /// The graph's only input; `shape` includes the batch dimension (1).
  int input(Shape shape);
  /// A constant value; its first dimension is the batch (1), broadcast by the ops that read it.
  int constant(at::Tensor value, std::string name = {});
  int conv2d(int x, at::Tensor weight, at::Tensor bias, int stride, int pad, std::string name = {});
  int linear(int x, at::Tensor weight, at::Tensor bias, std::string name = {});
  int matmul(int a, int b, bool transpose_b, std::string name = {});
  int batchNorm(int x, at::Tensor weight, at::Tensor bias, at::Tensor mean, at::Tensor var, double eps,
                std::string name = {});
  int globalAvgPool(int x);
  int maxPool(int x, int kernel, int stride, int pad);
  int avgPool(int x, int kernel, int stride, int pad);
  int add(int a, int b);
  int mul(int a, int b);
  int activation(int x, Act act);
  int layerNorm(int x, at::Tensor weight, at::Tensor bias, double eps, std::string name = {});
  int softmax(int x, int axis);
  int reshape(int x, Shape shape);
  int transpose(int x, Shape permutation);
  int slice(int x, int axis, std::int64_t start, std::int64_t length);
  int concat(const std::vector<int>& xs, int axis);
  void setOutput(int node);
  /// Mark a node's weight as a view of the package (see Node::shareable); returns the node.
  int shareable(int node);

  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& nodes() { return nodes_; }
  const Node& node(int id) const { return nodes_.at(static_cast<std::size_t>(id)); }
  int output() const { return output_; }
  const Shape& inputShape() const { return nodes_.front().shape; }
  const Shape& outputShape() const { return node(output_).shape; }

  /// True once a pass has fused post-ops into a node or folded a batch norm into a scale: no longer the graph a
  /// family lowered (what graph_io stores and BN recalibration runs).
  bool optimised() const;
  /// Multiply-accumulates of one node at batch 1 (0 for the ops that do none).
  std::int64_t macs(int id) const;
  std::int64_t totalMacs() const;
  /// The same nodes without their constant tensors (what a plan keeps to describe itself).
  Graph skeleton() const;
  /// One line per node: id, op and attributes, inputs, output shape, MACs, name and, when `kernels` is given
  /// (one string per node), the kernel a backend chose for it.
  std::string text(const std::vector<std::string>* kernels = nullptr) const;

  /// Append a node as is (passes use this; families use the typed methods above).
  int append(Node n);

 private:
  int push(Node n);
  const Node& checked(int id, const char* what) const;

  std::vector<Node> nodes_;
  int output_ = -1;
};

/// Rank and elements of a shape.
std::int64_t numel(const Shape& s);
std::string shapeText(const Shape& s);

}  // namespace dyndnn::engine
