#ifdef DYNDNN_HAVE_ONEDNN

#include "engine/onednn_compiler.hpp"

#include <ATen/ATen.h>

namespace dyndnn::engine::onednn {

void Compiler::compile() {
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
      throw Error(fmt::format("oneDNN could not build node %{} ({} {} -> {}): {} (status {})", i, opName(n.op), n.name,
                              shapeText(n.shape), e.what(), static_cast<int>(e.status)));
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

// A constant: the tensor's values reordered from its plain layout (viewed as `dims`) into `packed`, each
// output channel multiplied by `scale` on the way when given (a folded batch norm: dimension 0, or 0 and 1
// for grouped weights [g, O/g, ...], whose channel order is the same). A large `shareable` weight is packed
// once for all plans that use the same view with the same scale and layout (the head of a family, identical
// in every sub-network, is most of a small sub-network's weights); small ones go to the plan's own arena,
// where they cost no mapping of their own.
Slot Compiler::constant(const at::Tensor& t, const memory::dims& dims, const memory::desc& packed,
                        const at::Tensor& scale, bool shareable) {
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

std::string Compiler::sharingKey(const at::Tensor& t, const at::Tensor& scale) {
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
Value Compiler::constantValue(int v, const memory::desc& md) {
  const auto s = constant(node(v).weight, md.dims(), md);
  return Value{Slot::Constant, -1, md, -1, s.constant};
}

// `v`'s value copied into layout `md` (a buffer living as long as `v`), at the current point of the plan.
Value Compiler::reordered(int v, const memory::desc& md, int at_node) {
  const Value src = get(v);
  if (src.md == md) return src;
  Value dst{Slot::Buffer, planner_.place(at_node, md.get_size(), v), md, -1, {}};
  dnnl::reorder::primitive_desc pd(eng_, src.md, eng_, md, userScratchpad());
  add(pd, dnnl::reorder(pd), {{DNNL_ARG_FROM, slot(src)}, {DNNL_ARG_TO, slot(dst)}});
  return dst;
}

// The value of node `v`, materialising a deferred reshape or, for a Constant, its plain packed copy.
Value Compiler::get(int v) {
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
Value Compiler::plain(int v, int at_node) {
  const Value val = get(v);
  if (isPlain(val.md)) return val;
  auto& cached = plain_[static_cast<std::size_t>(v)];
  if (!cached) cached = reordered(v, plainDesc(val.md.dims()), at_node);
  return *cached;
}

void Compiler::compileNode(int i) {
  const auto& n = node(i);
  switch (n.op) {
    case Op::Input:
    case Op::Constant:
      break;  // packed when read (get, binary)
    case Op::Conv2d:
      return conv(i, n);
    case Op::Linear:
      return linear(i, n);
    case Op::MatMul:
      return matmul(i, n);
    case Op::BatchNorm:
      return batchNorm(i, n);
    case Op::GlobalAvgPool:
    case Op::MaxPool:
    case Op::AvgPool:
      return pool(i, n);
    case Op::Add:
    case Op::Mul:
      return binary(i, n);
    case Op::Activation:
      return eltwise(i, n);
    case Op::LayerNorm:
      return layerNorm(i, n);
    case Op::Softmax:
      return softmax(i, n);
    case Op::Reshape:
      return reshape(i, n);
    case Op::Transpose:
      return transpose(i, n);
    case Op::Slice:
      return slice(i, n);
    case Op::Concat:
      return concat(i, n);
  }
}

}  // namespace dyndnn::engine::onednn

#endif
