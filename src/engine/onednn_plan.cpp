// The oneDNN plan (CPU): every node of the optimised graph becomes a oneDNN primitive created once, constants
// reordered once into the layout the chosen kernel wants, fused activations and residual sums as post-ops, and
// 4-D activations kept in oneDNN's blocked layout from one convolution to the next. Ops that need plain
// memory (matmul, layer norm, softmax, reshape, transpose, slice, concat) get it through a reorder only where
// a value is blocked. Eager ATen on this class of build falls back to im2col + reference BLAS for many 1x1
// convolutions and for every matrix product; this path never touches BLAS.

#include "engine/execution_plan.hpp"

#include "dyndnn/error.hpp"

#ifdef DYNDNN_HAVE_ONEDNN

#include <ATen/ATen.h>

#include <fmt/format.h>

#include <optional>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>

#include "engine/onednn_workspace.hpp"
#include "engine/passes.hpp"

namespace dyndnn::engine {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

memory::dims dimsOf(const Shape& s) { return memory::dims(s.begin(), s.end()); }

tag plainTag(std::size_t rank) {
  switch (rank) {
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    case 5: return tag::abcde;
    default: throw InvalidArgument(fmt::format("oneDNN backend: values of rank {} are not supported (1..5)", rank));
  }
}

memory::desc plainDesc(const memory::dims& d) { return memory::desc(d, dt::f32, plainTag(d.size())); }
bool isPlain(const memory::desc& md) { return md == plainDesc(md.dims()); }

// The format tag of a 4-D activation layout, so a small tensor (an SE scale) or a pooled value can match it.
tag tagOf(const memory::desc& md) {
  if (md.dims().size() != 4) return isPlain(md) ? plainTag(md.dims().size()) : tag::any;
  for (tag t : {tag::nChw16c, tag::nChw8c, tag::nhwc, tag::nchw})
    if (md == memory::desc(md.dims(), dt::f32, t)) return t;
  return tag::any;
}

constexpr std::size_t kSharedConstantBytes = std::size_t{1} << 20;

using Eltwise = std::vector<std::tuple<dnnl::algorithm, float, float>>;

Eltwise eltwiseFor(Act act) {
  using A = dnnl::algorithm;
  switch (act) {
    case Act::None: return {};
    case Act::ReLU: return {{A::eltwise_relu, 0.f, 0.f}};
    case Act::ReLU6: return {{A::eltwise_clip, 0.f, 6.f}};
    case Act::HSwish: return {{A::eltwise_hardswish, 0.f, 0.f}};
    case Act::HSigmoid: return {{A::eltwise_linear, 1.f / 6.f, 0.5f}, {A::eltwise_clip, 0.f, 1.f}};  // relu6(x+3)/6
    case Act::Sigmoid: return {{A::eltwise_logistic, 0.f, 0.f}};
    case Act::GELU: return {{A::eltwise_gelu_erf, 0.f, 0.f}};
  }
  return {};
}

// Activations fused into a node (a Sum, when there is one, comes first: the fusion pass guarantees it).
dnnl::primitive_attr attrFor(const Node& n) {
  dnnl::post_ops ops;
  for (const auto& p : n.post) {
    if (p.kind == PostOp::Sum) ops.append_sum(1.f);
    for (const auto& [alg, a, b] : eltwiseFor(p.act)) ops.append_eltwise(1.f, alg, a, b);
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  return userScratchpad(attr);
}

int sumOperand(const Node& n) {
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

  void compile() {
    values_[0] = Value{Slot::Input, -1, plainDesc(dimsOf(g_.inputShape())), -1, {}};
    for (int i = 1; i < static_cast<int>(g_.nodes().size()); ++i) {
      try {
        current_ = i;
        compileNode(i);
        auto& n = g_.nodes()[static_cast<std::size_t>(i)];
        // (a Constant node keeps its tensor: each reader packs it in the layout it reads, at build time)
        if (n.op != Op::Constant) n.weight = n.bias = n.scale = n.mean = n.var = at::Tensor();
      } catch (const dnnl::error& e) {
        const auto& n = g_.node(i);
        throw Error(fmt::format("oneDNN could not build node %{} ({} {} -> {}): {} (status {})", i, opName(n.op),
                                n.name, shapeText(n.shape), e.what(), static_cast<int>(e.status)));
      }
    }
    // The output goes to the caller's tensor, plain; a node that wrote it there directly needs no copy.
    const Value out = get(g_.output());
    current_ = g_.output();
    if (out.kind != Slot::Output) {
      const auto dst = plainDesc(dimsOf(g_.outputShape()));
      dnnl::reorder::primitive_desc pd(eng_, out.md, eng_, dst, userScratchpad());
      add(pd, dnnl::reorder(pd), {{DNNL_ARG_FROM, slot(out)}, {DNNL_ARG_TO, Slot{Slot::Output, -1, dst, {}}}});
    }
  }

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
    steps_.push_back(Step{std::move(primitive), std::move(args),
                          fmt::format("%{} {} {}", current_, opName(n.op), n.name)});
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
  Slot constant(const at::Tensor& t, const memory::dims& dims, const memory::desc& packed,
                const at::Tensor& scale = {}, bool shareable = false) {
    auto pack = [&](void* into) {
      auto src = t.contiguous();
      memory user(plainDesc(dims), eng_, src.data_ptr());
      memory out(packed, eng_, into);
      dnnl::primitive_attr attr;
      if (scale.defined()) {
        auto s = scale.contiguous();
        attr.set_output_scales(dims.size() == 5 ? 3 : 1,
                               std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel()));
      }
      dnnl::reorder(dnnl::reorder::primitive_desc(user, out, attr)).execute(stream_, user, out);
      stream_.wait();
    };
    constant_bytes_ += packed.get_size();
    if (!shareable || packed.get_size() < kSharedConstantBytes) {
      void* into = constants_->allocate(packed.get_size());
      pack(into);
      return Slot{Slot::Constant, -1, packed, memory(packed, eng_, into)};
    }
    auto shared = SharedConstants::instance().get(sharingKey(t, scale), packed, pack);
    shared_.push_back(shared);
    return Slot{Slot::Constant, -1, packed, memory(packed, eng_, shared->memory->get())};
  }

  static std::string sharingKey(const at::Tensor& t, const at::Tensor& scale) {
    std::string key;
    auto put = [&](const void* p, std::size_t n) { key.append(static_cast<const char*>(p), n); };
    const void* address = t.data_ptr();
    put(&address, sizeof address);
    for (auto v : {t.sizes(), t.strides()}) put(v.data(), v.size() * sizeof(std::int64_t));
    if (scale.defined()) {
      auto s = scale.contiguous();
      put(s.data_ptr(), static_cast<std::size_t>(s.numel()) * sizeof(float));
    }
    return key;
  }
  // Constant node `v` packed into `md`.
  Value constantValue(int v, const memory::desc& md) {
    const auto s = constant(node(v).weight, md.dims(), md);
    return Value{Slot::Constant, -1, md, -1, s.constant};
  }
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
  Value reordered(int v, const memory::desc& md, int at_node) {
    const Value src = get(v);
    if (src.md == md) return src;
    Value dst{Slot::Buffer, planner_.place(at_node, md.get_size(), v), md, -1, {}};
    dnnl::reorder::primitive_desc pd(eng_, src.md, eng_, md, userScratchpad());
    add(pd, dnnl::reorder(pd), {{DNNL_ARG_FROM, slot(src)}, {DNNL_ARG_TO, slot(dst)}});
    return dst;
  }

  // The value of node `v`, materialising a deferred reshape or, for a Constant, its plain packed copy.
  Value get(int v) {
    auto& val = values_[static_cast<std::size_t>(v)];
    if (node(v).op == Op::Constant && !val.constant) val = constantValue(v, plainDesc(dimsOf(node(v).shape)));
    if (val.deferred_from < 0) return val;
    const auto& from = values_[static_cast<std::size_t>(val.deferred_from)];
    const auto copy = reordered(val.deferred_from, plainDesc(from.md.dims()), v);
    val = Value{copy.kind, copy.buffer, copy.md.reshape(val.md.dims()), -1, {}};
    planner_.share(v, copy.buffer);
    return val;
  }

  // The value of node `v` in plain layout (cached: several readers share one copy).
  Value plain(int v, int at_node) {
    const Value val = get(v);
    if (isPlain(val.md)) return val;
    auto& cached = plain_[static_cast<std::size_t>(v)];
    if (!cached) cached = reordered(v, plainDesc(val.md.dims()), at_node);
    return *cached;
  }

  void set(int i, Value v) { values_[static_cast<std::size_t>(i)] = std::move(v); }

  void compileNode(int i) {
    const auto& n = node(i);
    switch (n.op) {
      case Op::Input:
      case Op::Constant: break;  // packed when read (get, binary)
      case Op::Conv2d: return conv(i, n);
      case Op::Linear: return linear(i, n);
      case Op::MatMul: return matmul(i, n);
      case Op::BatchNorm: return batchNorm(i, n);
      case Op::GlobalAvgPool:
      case Op::MaxPool:
      case Op::AvgPool: return pool(i, n);
      case Op::Add:
      case Op::Mul: return binary(i, n);
      case Op::Activation: return eltwise(i, n);
      case Op::LayerNorm: return layerNorm(i, n);
      case Op::Softmax: return softmax(i, n);
      case Op::Reshape: return reshape(i, n);
      case Op::Transpose: return transpose(i, n);
      case Op::Slice: return slice(i, n);
      case Op::Concat: return concat(i, n);
    }
  }

  void conv(int i, const Node& n) {
    Value src = get(n.inputs[0]);
    const auto out_dims = dimsOf(n.shape);
    const int sum = sumOperand(n);
    // A plain source (the graph's input, or after a reshape) lets the kernel choose its layouts; a blocked one
    // keeps its layout family so that activations stay blocked from one convolution to the next.
    const bool choose = isPlain(src.md);
    const auto src_md = choose ? memory::desc(src.md.dims(), dt::f32, tag::any) : src.md;
    const auto out_tag = choose ? tag::any : tagOf(src.md);
    memory::desc dst_md = sum >= 0 ? get(sum).md : memory::desc(out_dims, dt::f32, out_tag);
    const auto o = n.weight.size(0);
    const memory::dims w_dims = n.groups == 1 ? memory::dims{o, n.weight.size(1), n.kernel, n.kernel}
                                              : memory::dims{n.groups, o / n.groups, n.weight.size(1), n.kernel, n.kernel};
    const auto bias_md = n.bias.defined() ? memory::desc({o}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src_md, memory::desc(w_dims, dt::f32, tag::any), bias_md, dst_md,
                                         {n.stride, n.stride}, {n.pad, n.pad}, {n.pad, n.pad});
    dnnl::convolution_forward::primitive_desc pd(desc, attrFor(n), eng_);
    if (choose) src = reordered(n.inputs[0], pd.src_desc(), i);
    Value dst = sum >= 0 ? sumDestination(i, sum) : fresh(i, pd.dst_desc());
    std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, slot(src)},
                                           {DNNL_ARG_WEIGHTS, constant(n.weight, w_dims, pd.weights_desc(), n.scale, n.shareable)},
                                           {DNNL_ARG_DST, slot(dst)}};
    if (n.bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(n.bias));
    add(pd, dnnl::convolution_forward(pd), std::move(args), i);
    set(i, dst);
  }

  // The destination of node i with a sum post-op, which accumulates onto what the destination holds: the
  // residual `sum`, in place when this is its last reader, otherwise a copy of it.
  Value sumDestination(int i, int sum) {
    const Value r = get(sum);
    if (r.kind == Slot::Buffer && planner_.lastUse(sum) == i) {
      planner_.share(i, r.buffer);
      return r;
    }
    Value dst = fresh(i, r.md);
    dnnl::reorder::primitive_desc copy(eng_, r.md, eng_, r.md, userScratchpad());
    add(copy, dnnl::reorder(copy), {{DNNL_ARG_FROM, slot(r)}, {DNNL_ARG_TO, slot(dst)}});
    return dst;
  }

  // A linear over tokens ([1, ..., T, in], plain) as the 1x1 convolution it is: the plain rows are an NHWC
  // feature map of T pixels, so no data moves, and oneDNN's 1x1 convolution kernels beat its inner product
  // at these shapes (mb 49: ~60 GFLOP/s for the inner product's gemm). Takes a residual sum as a post-op.
  void tokenLinear(int i, const Node& n) {
    const Value src = plain(n.inputs[0], i);
    const auto o = n.weight.size(0), in = n.weight.size(1);
    const auto rows = numel(node(n.inputs[0]).shape) / in;
    const memory::desc src_md({1, in, 1, rows}, dt::f32, tag::nhwc), dst_md({1, o, 1, rows}, dt::f32, tag::nhwc);
    const memory::dims w_dims{o, in, 1, 1};
    const auto bias_md = n.bias.defined() ? memory::desc({o}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src_md, memory::desc(w_dims, dt::f32, tag::any), bias_md, dst_md, {1, 1},
                                         {0, 0}, {0, 0});
    dnnl::convolution_forward::primitive_desc pd(desc, attrFor(n), eng_);
    const int sum = sumOperand(n);
    Value dst = sum >= 0 ? sumDestination(i, sum) : fresh(i, plainDesc(dimsOf(n.shape)));
    auto as_map = [&](Value v, const memory::desc& md) {  // the same bytes seen as the 1 x T feature map
      v.md = md;
      return slot(v);
    };
    std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, as_map(src, src_md)},
                                           {DNNL_ARG_WEIGHTS, constant(n.weight, w_dims, pd.weights_desc(), {}, n.shareable)},
                                           {DNNL_ARG_DST, as_map(dst, dst_md)}};
    if (n.bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(n.bias));
    add(pd, dnnl::convolution_forward(pd), std::move(args), i);
    set(i, dst);
  }

  void linear(int i, const Node& n) {
    const int x = n.inputs[0];
    const auto& xn = node(x);
    if (xn.shape.size() >= 3) return tokenLinear(i, n);
    // A linear over a flattened 4-D value reads the 4-D value itself (an inner product over C, H, W): no
    // reorder of a blocked feature map to plain just to flatten it.
    const auto o = n.weight.size(0);
    Value src;
    memory::dims w_dims;
    if (xn.op == Op::Reshape && xn.shape.size() == 2 && node(xn.inputs[0]).shape.size() == 4) {
      src = get(xn.inputs[0]);
      const auto d = src.md.dims();
      w_dims = {o, d[1], d[2], d[3]};
    } else {
      src = plain(x, i);
      const auto in = n.weight.size(1);
      src.md = src.md.reshape({numel(xn.shape) / in, in});
      w_dims = {o, in};
    }
    const auto rows = src.md.dims()[0];
    const auto dst_md = plainDesc({rows, o});
    const auto bias_md = n.bias.defined() ? memory::desc({o}, dt::f32, tag::x) : memory::desc();
    dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src.md,
                                           memory::desc(w_dims, dt::f32, tag::any), bias_md, dst_md);
    dnnl::inner_product_forward::primitive_desc pd(desc, attrFor(n), eng_);
    const int sum = sumOperand(n);
    Value dst = sum >= 0 ? sumDestination(i, sum) : fresh(i, plainDesc(dimsOf(n.shape)));
    auto dst_slot = slot(dst);
    dst_slot.md = dst_md;
    std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, slot(src)},
                                           {DNNL_ARG_WEIGHTS, constant(n.weight, w_dims, pd.weights_desc(), {}, n.shareable)},
                                           {DNNL_ARG_DST, dst_slot}};
    if (n.bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(n.bias));
    add(pd, dnnl::inner_product_forward(pd), std::move(args), i);
    set(i, dst);
  }

  void matmul(int i, const Node& n) {
    const Value a = plain(n.inputs[0], i);
    Value b = plain(n.inputs[1], i);
    if (n.transpose_b) {  // b^T as a strided view of b
      auto d = b.md.dims();
      const auto r = d.size();
      memory::dims strides(r);
      strides[r - 1] = 1;
      for (std::size_t k = r - 1; k-- > 0;) strides[k] = strides[k + 1] * d[k + 1];
      std::swap(d[r - 1], d[r - 2]);
      std::swap(strides[r - 1], strides[r - 2]);
      b.md = memory::desc(d, dt::f32, strides);
    }
    Value dst = fresh(i, plainDesc(dimsOf(n.shape)));
    dnnl::matmul::desc desc(a.md, b.md, dst.md);
    dnnl::matmul::primitive_desc pd(desc, attrFor(n), eng_);
    add(pd, dnnl::matmul(pd), {{DNNL_ARG_SRC, slot(a)}, {DNNL_ARG_WEIGHTS, slot(b)}, {DNNL_ARG_DST, slot(dst)}}, i);
    set(i, dst);
  }

  void batchNorm(int i, const Node& n) {
    const Value src = get(n.inputs[0]);
    using F = dnnl::normalization_flags;
    dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src.md, static_cast<float>(n.eps),
                                                 F::use_global_stats | F::use_scale | F::use_shift);
    dnnl::batch_normalization_forward::primitive_desc pd(desc, userScratchpad(), eng_);
    Value dst = inPlaceOrFresh(i, n.inputs[0], src);
    add(pd, dnnl::batch_normalization_forward(pd),
        {{DNNL_ARG_SRC, slot(src)}, {DNNL_ARG_MEAN, constant(n.mean)}, {DNNL_ARG_VARIANCE, constant(n.var)},
         {DNNL_ARG_SCALE, constant(n.weight)}, {DNNL_ARG_SHIFT, constant(n.bias)}, {DNNL_ARG_DST, slot(dst)}},
        i);
    set(i, dst);
  }

  void pool(int i, const Node& n) {
    const Value src = get(n.inputs[0]);
    const auto d = src.md.dims();
    const bool global = n.op == Op::GlobalAvgPool;
    const memory::dims kernel = global ? memory::dims{d[2], d[3]} : memory::dims{n.kernel, n.kernel};
    const memory::dims stride = global ? memory::dims{1, 1} : memory::dims{n.stride, n.stride};
    const memory::dims pad = global ? memory::dims{0, 0} : memory::dims{n.pad, n.pad};
    const auto alg = n.op == Op::MaxPool ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src.md,
                                     memory::desc(dimsOf(n.shape), dt::f32, tagOf(src.md)), stride, kernel, pad, pad);
    dnnl::pooling_forward::primitive_desc pd(desc, userScratchpad(), eng_);
    Value dst = fresh(i, pd.dst_desc());
    add(pd, dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, slot(src)}, {DNNL_ARG_DST, slot(dst)}}, i);
    set(i, dst);
  }

  // In place over `x` when this node is its last reader and it sits in a buffer; else a new value like it.
  Value inPlaceOrFresh(int i, int x, const Value& src) {
    if (src.kind == Slot::Buffer && planner_.lastUse(x) == i && !(i == g_.output() && isPlain(src.md))) {
      planner_.share(i, src.buffer);
      return src;
    }
    return fresh(i, src.md);
  }

  void binary(int i, const Node& n) {
    int a = n.inputs[0], b = n.inputs[1];
    // oneDNN broadcasts the second operand only; both ops here commute. A constant goes second when it can.
    if (node(a).shape != n.shape || (node(a).op == Op::Constant && node(b).shape == n.shape)) std::swap(a, b);
    if (node(a).shape != n.shape)
      throw InvalidArgument(fmt::format("oneDNN backend: {} of {} and {} broadcasts both operands; only one may be "
                                        "broadcast (reshape one operand first)",
                                        opName(n.op), shapeText(node(n.inputs[0]).shape), shapeText(node(n.inputs[1]).shape)));
    Value src0 = get(a);
    if (tagOf(src0.md) == tag::any) src0 = plain(a, i);
    const auto b_md = memory::desc(dimsOf(node(b).shape), dt::f32, tagOf(src0.md));
    // a constant operand is packed in the other's layout once, not reordered every frame
    const Value src1 = node(b).op == Op::Constant ? constantValue(b, b_md) : reordered(b, b_md, i);
    Value dst = inPlaceOrFresh(i, a, src0);
    const auto alg = n.op == Op::Add ? dnnl::algorithm::binary_add : dnnl::algorithm::binary_mul;
    dnnl::binary::desc desc(alg, src0.md, src1.md, dst.md);
    dnnl::binary::primitive_desc pd(desc, attrFor(n), eng_);
    add(pd, dnnl::binary(pd), {{DNNL_ARG_SRC_0, slot(src0)}, {DNNL_ARG_SRC_1, slot(src1)}, {DNNL_ARG_DST, slot(dst)}},
        i);
    set(i, dst);
  }

  void eltwise(int i, const Node& n) {
    Value src = get(n.inputs[0]);
    const auto chain = eltwiseFor(n.act);
    for (std::size_t k = 0; k < chain.size(); ++k) {
      const auto& [alg, alpha, beta] = chain[k];
      dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src.md, alpha, beta);
      dnnl::eltwise_forward::primitive_desc pd(desc, userScratchpad(), eng_);
      Value dst = k == 0 ? inPlaceOrFresh(i, n.inputs[0], src) : src;  // later steps run in place
      add(pd, dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, slot(src)}, {DNNL_ARG_DST, slot(dst)}}, i);
      src = dst;
    }
    set(i, src);
  }

  void layerNorm(int i, const Node& n) {
    const Value src = plain(n.inputs[0], i);
    using F = dnnl::normalization_flags;
    dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src.md,
                                                 static_cast<float>(n.eps), F::use_scale | F::use_shift);
    dnnl::layer_normalization_forward::primitive_desc pd(desc, userScratchpad(), eng_);
    Value dst = fresh(i, src.md);
    std::vector<std::pair<int, Slot>> args{{DNNL_ARG_SRC, slot(src)},
                                           {DNNL_ARG_SCALE, constant(n.weight)},
                                           {DNNL_ARG_SHIFT, constant(n.bias)},
                                           {DNNL_ARG_DST, slot(dst)}};
    // Inference computes the statistics on the fly; where the kernel wants room for them, the workspace has it.
    for (auto [arg, md] : {std::pair{DNNL_ARG_MEAN, pd.mean_desc()}, std::pair{DNNL_ARG_VARIANCE, pd.variance_desc()}})
      if (md.get_size() > 0) args.emplace_back(arg, Slot{Slot::Buffer, planner_.place(i, md.get_size(), i), md, {}});
    add(pd, dnnl::layer_normalization_forward(pd), std::move(args), i);
    set(i, dst);
  }

  void softmax(int i, const Node& n) {
    const Value src = plain(n.inputs[0], i);
    dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, src.md, n.axis);
    dnnl::softmax_forward::primitive_desc pd(desc, userScratchpad(), eng_);
    Value dst = fresh(i, src.md);
    add(pd, dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, slot(src)}, {DNNL_ARG_DST, slot(dst)}}, i);
    set(i, dst);
  }

  void reshape(int i, const Node& n) {
    const int x = n.inputs[0];
    const Value src = get(x);
    const auto dims = dimsOf(n.dims);
    if (isPlain(src.md)) {  // a view of the same memory
      if (src.kind == Slot::Buffer) planner_.share(i, src.buffer);
      set(i, Value{src.kind, src.buffer, src.md.reshape(dims), -1, src.constant});
    } else {  // materialised only if a reader needs it; the source stays until then
      if (src.kind == Slot::Buffer) planner_.share(i, src.buffer);
      set(i, Value{Slot::Buffer, -1, plainDesc(dims), x, {}});
    }
    kernels_[static_cast<std::size_t>(i)] = isPlain(src.md) ? "view" : "reorder when read";
  }

  void transpose(int i, const Node& n) {
    const Value src = plain(n.inputs[0], i);
    const auto in = src.md.dims();
    memory::dims in_strides(in.size()), dims, strides;
    in_strides.back() = 1;
    for (std::size_t k = in.size() - 1; k-- > 0;) in_strides[k] = in_strides[k + 1] * in[k + 1];
    for (auto p : n.dims) {
      dims.push_back(in[static_cast<std::size_t>(p)]);
      strides.push_back(in_strides[static_cast<std::size_t>(p)]);
    }
    copyInto(i, Value{src.kind, src.buffer, memory::desc(dims, dt::f32, strides), -1, src.constant});
  }

  void slice(int i, const Node& n) {
    const Value src = plain(n.inputs[0], i);
    auto dims = src.md.dims();
    memory::dims offsets(dims.size(), 0);
    offsets[static_cast<std::size_t>(n.axis)] = n.start;
    dims[static_cast<std::size_t>(n.axis)] = n.length;
    copyInto(i, Value{src.kind, src.buffer, src.md.submemory_desc(dims, offsets), -1, src.constant});
  }

  // A reorder of a strided view into a new plain value of node i.
  void copyInto(int i, const Value& view) {
    Value dst = fresh(i, plainDesc(view.md.dims()));
    dnnl::reorder::primitive_desc pd(eng_, view.md, eng_, dst.md, userScratchpad());
    add(pd, dnnl::reorder(pd), {{DNNL_ARG_FROM, slot(view)}, {DNNL_ARG_TO, slot(dst)}}, i);
    set(i, dst);
  }

  void concat(int i, const Node& n) {
    std::vector<memory::desc> mds;
    std::vector<std::pair<int, Slot>> args;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      const Value v = plain(n.inputs[k], i);
      mds.push_back(v.md);
      args.emplace_back(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k), slot(v));
    }
    Value dst = fresh(i, plainDesc(dimsOf(n.shape)));
    dnnl::concat::primitive_desc pd(dst.md, n.axis, mds, eng_, userScratchpad());
    args.emplace_back(DNNL_ARG_DST, slot(dst));
    add(pd, dnnl::concat(pd), std::move(args), i);
    set(i, dst);
  }

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

class OneDnnPlan final : public ExecutionPlan {
 public:
  OneDnnPlan(const Graph& g, Compiler& c)
      : ExecutionPlan(g, c.kernels()), workspaces_(c.parts()), out_numel_(numel(g.outputShape())),
        in_numel_(numel(g.inputShape())) {}

  at::Tensor run(const at::Tensor& input) const override {
    const auto n = input.size(0);
    auto out_shape = graph().outputShape();
    out_shape[0] = n;
    auto out = at::empty(out_shape, at::TensorOptions().dtype(at::kFloat));
    auto x = input.contiguous();
    if (x.numel() != n * in_numel_)
      throw InvalidArgument("oneDNN plan: input of shape " + shapeText(Shape(x.sizes().begin(), x.sizes().end())) +
                            " where the graph takes " + shapeText(graph().inputShape()) + " with any batch");
    auto ws = workspaces_.acquire();
    for (std::int64_t i = 0; i < n; ++i) {  // the plan is built for batch 1
      ws->bind(x.data_ptr<float>() + i * in_numel_, out.data_ptr<float>() + i * out_numel_);
      workspaces_.execute(*ws);
    }
    workspaces_.release(std::move(ws));
    return out;
  }

  std::size_t bytes() const override { return workspaces_.bytes(); }
  const char* backend() const override { return "onednn"; }

 private:
  WorkspacePool workspaces_;
  std::int64_t out_numel_, in_numel_;
};

}  // namespace

bool hasOneDnn() { return true; }

PlanPtr compileOneDnn(const Graph& graph) {
  auto g = optimise(graph);
  Compiler c(g);
  c.compile();
  return std::make_shared<OneDnnPlan>(g, c);
}

}  // namespace dyndnn::engine

#else  // no oneDNN in this build: the ATen plan serves the CPU

namespace dyndnn::engine {
bool hasOneDnn() { return false; }
PlanPtr compileOneDnn(const Graph&) { throw InvalidArgument("this dyndnn build has no oneDNN backend"); }
}  // namespace dyndnn::engine

#endif
