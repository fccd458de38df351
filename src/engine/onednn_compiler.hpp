#pragma once
// The oneDNN backend's compiler (onednn_plan.cpp runs what it builds): every node of the optimised graph becomes a
// oneDNN primitive created once, constants reordered once into the layout the chosen kernel wants, fused
// activations and residual sums as post-ops, 4-D activations kept in oneDNN's blocked layout from one
// convolution to the next. The per-op methods are in onednn_ops.cpp, the machinery (values, layouts, constants)
// in onednn_compiler.cpp. Only the oneDNN backend includes this.

#include <ATen/core/Tensor.h>
#include <fmt/format.h>

#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "dyndnn/error.hpp"
#include "engine/graph.hpp"
#include "engine/onednn_workspace.hpp"
#include "engine/passes.hpp"

namespace dyndnn::engine::onednn {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

inline memory::dims dimsOf(const Shape& s) { return memory::dims(s.begin(), s.end()); }

inline tag plainTag(std::size_t rank) {
  switch (rank) {
    case 1:
      return tag::a;
    case 2:
      return tag::ab;
    case 3:
      return tag::abc;
    case 4:
      return tag::abcd;
    case 5:
      return tag::abcde;
    default:
      throw InvalidArgument(fmt::format("oneDNN backend: values of rank {} are not supported (1..5)", rank));
  }
}

inline memory::desc plainDesc(const memory::dims& d) { return memory::desc(d, dt::f32, plainTag(d.size())); }
inline bool isPlain(const memory::desc& md) { return md == plainDesc(md.dims()); }

// The format tag of a 4-D activation layout, so a small tensor (an SE scale) or a pooled value can match it.
inline tag tagOf(const memory::desc& md) {
  if (md.dims().size() != 4) return isPlain(md) ? plainTag(md.dims().size()) : tag::any;
  for (tag t : {tag::nChw16c, tag::nChw8c, tag::nhwc, tag::nchw})
    if (md == memory::desc(md.dims(), dt::f32, t)) return t;
  return tag::any;
}

inline constexpr std::size_t kSharedConstantBytes = std::size_t{1} << 20;

using Eltwise = std::vector<std::tuple<dnnl::algorithm, float, float>>;

inline Eltwise eltwiseFor(Act act) {
  using A = dnnl::algorithm;
  switch (act) {
    case Act::None:
      return {};
    case Act::ReLU:
      return {{A::eltwise_relu, 0.f, 0.f}};
    case Act::ReLU6:
      return {{A::eltwise_clip, 0.f, 6.f}};
    case Act::HSwish:
      return {{A::eltwise_hardswish, 0.f, 0.f}};
    case Act::HSigmoid:
      return {{A::eltwise_linear, 1.f / 6.f, 0.5f}, {A::eltwise_clip, 0.f, 1.f}};  // relu6(x+3)/6
    case Act::Sigmoid:
      return {{A::eltwise_logistic, 0.f, 0.f}};
    case Act::GELU:
      return {{A::eltwise_gelu_erf, 0.f, 0.f}};
  }
  return {};
}

// Activations fused into a node (a Sum, when there is one, comes first: the fusion pass guarantees it).
inline dnnl::primitive_attr attrFor(const Node& n) {
  dnnl::post_ops ops;
  for (const auto& p : n.post) {
    if (p.kind == PostOp::Sum) ops.append_sum(1.f);
    for (const auto& [alg, a, b] : eltwiseFor(p.act)) ops.append_eltwise(1.f, alg, a, b);
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return userScratchpad(attr);
}

inline int sumOperand(const Node& n) {
  for (const auto& p : n.post)
    if (p.kind == PostOp::Sum) return p.value;
  return -1;
}

// Where a value lives: a workspace buffer (or the caller's input/output) in a layout. A Reshape of a blocked
// value is `deferred`: only a reader that needs it plain pays for the reorder (the linear after a pooled,
// flattened feature map reads the 4-D value directly).
struct Value {
  Slot::Kind kind = Slot::Buffer;
  int buffer = -1;
  memory::desc md;
  int deferred_from = -1;
  dnnl::memory constant;  // kind Constant: the packed value
};

class Compiler {
 public:
  // Takes the graph's constants as it packs them: each node's tensors are let go once packed, so a plan build
  // holds at most one unpacked layer (a folded copy of the weights would otherwise double the peak).
  explicit Compiler(Graph& g) : g_(g), planner_(g), eng_(dnnl::engine::kind::cpu, 0), stream_(eng_) {
    values_.resize(g.nodes().size());
    kernels_.resize(g.nodes().size());
    plain_.resize(g.nodes().size());
  }

  void compile();

  PlanParts parts() {
    PlanParts p;
    p.engine = eng_;
    p.steps = std::move(steps_);
    p.buffer_sizes = planner_.sizes();
    p.constants = std::move(constants_);
    p.shared = std::move(shared_);
    p.constant_bytes = constant_bytes_;
    p.scratch_bytes = scratch_bytes_;
    return p;
  }

  std::vector<std::string> kernels() const { return kernels_; }

 private:
  const Node& node(int i) const { return g_.node(i); }

  template <typename PrimitiveDesc>
  void add(const PrimitiveDesc& pd, dnnl::primitive primitive, std::vector<std::pair<int, Slot>> args,
           int for_node = -1) {
    const auto scratch = pd.scratchpad_desc();
    scratch_bytes_ = std::max(scratch_bytes_, scratch.get_size());
    if (scratch.get_size() > 0) args.emplace_back(DNNL_ARG_SCRATCHPAD, Slot{Slot::Scratch, -1, scratch, {}});
    const auto& n = node(current_);
    steps_.push_back(
        Step{std::move(primitive), std::move(args), fmt::format("%{} {} {}", current_, opName(n.op), n.name)});
    if (for_node >= 0) kernels_[static_cast<std::size_t>(for_node)] = pd.impl_info_str();
  }

  // A constant read through a view (a reshape, transpose or slice of it) is its memory seen with the view's desc.
  Slot slot(const Value& v) const {
    if (v.kind == Slot::Constant && v.constant.get_desc() != v.md)
      return Slot{v.kind, -1, v.md, memory(v.md, eng_, v.constant.get_data_handle())};
    return Slot{v.kind, v.buffer, v.md, v.constant};
  }

  // A constant: the tensor's values reordered from its plain layout (viewed as `dims`) into `packed`, each
  // output channel multiplied by `scale` on the way when given (a folded batch norm: dimension 0, or 0 and 1
  // for grouped weights [g, O/g, ...], whose channel order is the same). A large `shareable` weight is packed
  // once for all plans that use the same view with the same scale and layout (the head of a family, identical
  // in every sub-network, is most of a small sub-network's weights); small ones go to the plan's own arena,
  // where they cost no mapping of their own.
  Slot constant(const at::Tensor& t, const memory::dims& dims, const memory::desc& packed, const at::Tensor& scale = {},
                bool shareable = false);

  static std::string sharingKey(const at::Tensor& t, const at::Tensor& scale);

  // Constant node `v` packed into `md`.
  Value constantValue(int v, const memory::desc& md);

  Slot constant(const at::Tensor& t) {
    const auto d = memory::dims(t.sizes().begin(), t.sizes().end());
    return constant(t, d, plainDesc(d));
  }

  // A new value for `node` in `md`: the caller's output when it is the graph's output and plain, else a buffer.
  Value fresh(int node, const memory::desc& md, int owner = -1) {
    if (node == g_.output() && owner < 0 && isPlain(md)) return Value{Slot::Output, -1, md, -1, {}};
    return Value{Slot::Buffer, planner_.place(node, md.get_size(), owner), md, -1, {}};
  }

  // `v`'s value copied into layout `md` (a buffer living as long as `v`), at the current point of the plan.
  Value reordered(int v, const memory::desc& md, int at_node);

  // The value of node `v`, materialising a deferred reshape or, for a Constant, its plain packed copy.
  Value get(int v);

  // The value of node `v` in plain layout (cached: several readers share one copy).
  Value plain(int v, int at_node);

  void set(int i, Value v) { values_[static_cast<std::size_t>(i)] = std::move(v); }

  void compileNode(int i);

  void conv(int i, const Node& n);

  // The destination of node i with a sum post-op, which accumulates onto what the destination holds: the
  // residual `sum`, in place when this is its last reader, otherwise a copy of it.
  Value sumDestination(int i, int sum);

  // A linear over tokens ([1, ..., T, in], plain) as the 1x1 convolution it is: the plain rows are an NHWC
  // feature map of T pixels, so no data moves, and oneDNN's 1x1 convolution kernels beat its inner product
  // at these shapes (mb 49: ~60 GFLOP/s for the inner product's gemm). Takes a residual sum as a post-op.
  void tokenLinear(int i, const Node& n);

  void linear(int i, const Node& n);

  void matmul(int i, const Node& n);

  void batchNorm(int i, const Node& n);

  void pool(int i, const Node& n);

  // In place over `x` when this node is its last reader and it sits in a buffer; else a new value like it.
  Value inPlaceOrFresh(int i, int x, const Value& src);

  void binary(int i, const Node& n);

  void eltwise(int i, const Node& n);

  void layerNorm(int i, const Node& n);

  void softmax(int i, const Node& n);

  void reshape(int i, const Node& n);

  void transpose(int i, const Node& n);

  void slice(int i, const Node& n);

  // A reorder of a strided view into a new plain value of node i.
  void copyInto(int i, const Value& view);

  void concat(int i, const Node& n);

  Graph& g_;
  int current_ = 0;  // the node being compiled
  BufferPlanner planner_;
  dnnl::engine eng_;
  dnnl::stream stream_;
  std::vector<Value> values_;
  std::vector<std::optional<Value>> plain_;
  std::vector<std::string> kernels_;
  std::vector<Step> steps_;
  std::unique_ptr<Arena> constants_ = std::make_unique<Arena>();
  std::vector<std::shared_ptr<const SharedConstants::Packed>> shared_;
  std::size_t constant_bytes_ = 0, scratch_bytes_ = 0;
};

}  // namespace dyndnn::engine::onednn
