// The oneDNN compiler's per-op methods: each node of the graph to its primitive(s), reading its inputs in the
// layouts they have and leaving its value where its readers find it.

#ifdef DYNDNN_HAVE_ONEDNN

#include <ATen/ATen.h>

#include "engine/onednn_compiler.hpp"

namespace dyndnn::engine::onednn {

void Compiler::conv(int i, const Node& n) {
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
  const memory::dims w_dims = n.groups == 1
                                  ? memory::dims{o, n.weight.size(1), n.kernel, n.kernel}
                                  : memory::dims{n.groups, o / n.groups, n.weight.size(1), n.kernel, n.kernel};
  const auto bias_md = n.bias.defined() ? memory::desc({o}, dt::f32, tag::x) : memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                       memory::desc(w_dims, dt::f32, tag::any), bias_md, dst_md, {n.stride, n.stride},
                                       {n.pad, n.pad}, {n.pad, n.pad});
  dnnl::convolution_forward::primitive_desc pd(desc, attrFor(n), eng_);
  if (choose) src = reordered(n.inputs[0], pd.src_desc(), i);
  Value dst = sum >= 0 ? sumDestination(i, sum) : fresh(i, pd.dst_desc());
  std::vector<std::pair<int, Slot>> args{
      {DNNL_ARG_SRC, slot(src)},
      {DNNL_ARG_WEIGHTS, constant(n.weight, w_dims, pd.weights_desc(), n.scale, n.shareable)},
      {DNNL_ARG_DST, slot(dst)}};
  if (n.bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(n.bias));
  add(pd, dnnl::convolution_forward(pd), std::move(args), i);
  set(i, dst);
}

// The destination of node i with a sum post-op, which accumulates onto what the destination holds: the
// residual `sum`, in place when this is its last reader, otherwise a copy of it.
Value Compiler::sumDestination(int i, int sum) {
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
void Compiler::tokenLinear(int i, const Node& n) {
  const Value src = plain(n.inputs[0], i);
  const auto o = n.weight.size(0), in = n.weight.size(1);
  const auto rows = numel(node(n.inputs[0]).shape) / in;
  const memory::desc src_md({1, in, 1, rows}, dt::f32, tag::nhwc), dst_md({1, o, 1, rows}, dt::f32, tag::nhwc);
  const memory::dims w_dims{o, in, 1, 1};
  const auto bias_md = n.bias.defined() ? memory::desc({o}, dt::f32, tag::x) : memory::desc();
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                       memory::desc(w_dims, dt::f32, tag::any), bias_md, dst_md, {1, 1}, {0, 0},
                                       {0, 0});
  dnnl::convolution_forward::primitive_desc pd(desc, attrFor(n), eng_);
  const int sum = sumOperand(n);
  Value dst = sum >= 0 ? sumDestination(i, sum) : fresh(i, plainDesc(dimsOf(n.shape)));
  auto as_map = [&](Value v, const memory::desc& md) {  // the same bytes seen as the 1 x T feature map
    v.md = md;
    return slot(v);
  };
  std::vector<std::pair<int, Slot>> args{
      {DNNL_ARG_SRC, as_map(src, src_md)},
      {DNNL_ARG_WEIGHTS, constant(n.weight, w_dims, pd.weights_desc(), {}, n.shareable)},
      {DNNL_ARG_DST, as_map(dst, dst_md)}};
  if (n.bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(n.bias));
  add(pd, dnnl::convolution_forward(pd), std::move(args), i);
  set(i, dst);
}

void Compiler::linear(int i, const Node& n) {
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
  std::vector<std::pair<int, Slot>> args{
      {DNNL_ARG_SRC, slot(src)},
      {DNNL_ARG_WEIGHTS, constant(n.weight, w_dims, pd.weights_desc(), {}, n.shareable)},
      {DNNL_ARG_DST, dst_slot}};
  if (n.bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(n.bias));
  add(pd, dnnl::inner_product_forward(pd), std::move(args), i);
  set(i, dst);
}

void Compiler::matmul(int i, const Node& n) {
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

void Compiler::batchNorm(int i, const Node& n) {
  const Value src = get(n.inputs[0]);
  using F = dnnl::normalization_flags;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src.md, static_cast<float>(n.eps),
                                               F::use_global_stats | F::use_scale | F::use_shift);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, userScratchpad(), eng_);
  Value dst = inPlaceOrFresh(i, n.inputs[0], src);
  add(pd, dnnl::batch_normalization_forward(pd),
      {{DNNL_ARG_SRC, slot(src)},
       {DNNL_ARG_MEAN, constant(n.mean)},
       {DNNL_ARG_VARIANCE, constant(n.var)},
       {DNNL_ARG_SCALE, constant(n.weight)},
       {DNNL_ARG_SHIFT, constant(n.bias)},
       {DNNL_ARG_DST, slot(dst)}},
      i);
  set(i, dst);
}

void Compiler::pool(int i, const Node& n) {
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
Value Compiler::inPlaceOrFresh(int i, int x, const Value& src) {
  if (src.kind == Slot::Buffer && planner_.lastUse(x) == i && !(i == g_.output() && isPlain(src.md))) {
    planner_.share(i, src.buffer);
    return src;
  }
  return fresh(i, src.md);
}

void Compiler::binary(int i, const Node& n) {
  int a = n.inputs[0], b = n.inputs[1];
  // oneDNN broadcasts the second operand only; both ops here commute. A constant goes second when it can.
  if (node(a).shape != n.shape || (node(a).op == Op::Constant && node(b).shape == n.shape)) std::swap(a, b);
  if (node(a).shape != n.shape)
    throw InvalidArgument(
        fmt::format("oneDNN backend: {} of {} and {} broadcasts both operands; only one may be "
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
  add(pd, dnnl::binary(pd), {{DNNL_ARG_SRC_0, slot(src0)}, {DNNL_ARG_SRC_1, slot(src1)}, {DNNL_ARG_DST, slot(dst)}}, i);
  set(i, dst);
}

void Compiler::eltwise(int i, const Node& n) {
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

void Compiler::layerNorm(int i, const Node& n) {
  const Value src = plain(n.inputs[0], i);
  using F = dnnl::normalization_flags;
  dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src.md, static_cast<float>(n.eps),
                                               F::use_scale | F::use_shift);
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

void Compiler::softmax(int i, const Node& n) {
  const Value src = plain(n.inputs[0], i);
  dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, src.md, n.axis);
  dnnl::softmax_forward::primitive_desc pd(desc, userScratchpad(), eng_);
  Value dst = fresh(i, src.md);
  add(pd, dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, slot(src)}, {DNNL_ARG_DST, slot(dst)}}, i);
  set(i, dst);
}

void Compiler::reshape(int i, const Node& n) {
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

void Compiler::transpose(int i, const Node& n) {
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

void Compiler::slice(int i, const Node& n) {
  const Value src = plain(n.inputs[0], i);
  auto dims = src.md.dims();
  memory::dims offsets(dims.size(), 0);
  offsets[static_cast<std::size_t>(n.axis)] = n.start;
  dims[static_cast<std::size_t>(n.axis)] = n.length;
  copyInto(i, Value{src.kind, src.buffer, src.md.submemory_desc(dims, offsets), -1, src.constant});
}

// A reorder of a strided view into a new plain value of node i.
void Compiler::copyInto(int i, const Value& view) {
  Value dst = fresh(i, plainDesc(view.md.dims()));
  dnnl::reorder::primitive_desc pd(eng_, view.md, eng_, dst.md, userScratchpad());
  add(pd, dnnl::reorder(pd), {{DNNL_ARG_FROM, slot(view)}, {DNNL_ARG_TO, slot(dst)}}, i);
  set(i, dst);
}

void Compiler::concat(int i, const Node& n) {
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

}  // namespace dyndnn::engine::onednn

#endif
