// The oneDNN plan (CPU): every layer is a oneDNN primitive created once, with weights reordered once into
// the layout the chosen kernel wants, BN folded into the bias, activations and the residual sum fused as
// post-ops, and activations kept in oneDNN's blocked layout from the first convolution to the classifier.
// Eager ATen on this class of build falls back to im2col + reference BLAS for many 1x1 convolutions; this
// path never touches BLAS.

#include "engine/execution_plan.hpp"

#include "dyndnn/error.hpp"

#ifdef DYNDNN_HAVE_ONEDNN

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sys/mman.h>

#include <cstring>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include <fmt/format.h>

namespace dyndnn::engine {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

// Where a primitive argument lives: a workspace activation buffer, a constant (packed weights), the
// caller's input/output, or the workspace's scratchpad.
struct Slot {
  enum Kind { Buffer, Constant, Input, Output, Scratch } kind = Buffer;
  int buffer = -1;
  memory::desc md;
  memory constant;
};

struct Step {
  dnnl::primitive primitive;
  std::vector<std::pair<int, Slot>> args;
};

// An activation: which workspace buffer holds it, in which layout.
struct Activation {
  int buffer;
  memory::desc md;
};

// Page-granular memory straight from the kernel, returned to it the moment a plan goes away. (malloc keeps
// large freed blocks in its heap once its mmap threshold has grown, so plans evicted from the cache would
// keep the process's resident size up.)
class PageBuffer {
 public:
  explicit PageBuffer(std::size_t bytes) : size_(std::max<std::size_t>(bytes, 64)) {
    data_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::bad_alloc();
  }
  ~PageBuffer() { ::munmap(data_, size_); }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  void* get() const { return data_; }

 private:
  std::size_t size_;
  void* data_;
};

// Per-call state: activation buffers and the memory objects bound to them. One per concurrent caller.
struct Workspace {
  std::vector<std::unique_ptr<PageBuffer>> buffers;
  std::unique_ptr<PageBuffer> scratch;
  std::vector<std::unordered_map<int, memory>> args;  // per step
  std::vector<memory*> inputs, outputs;               // handles rebound on every call
  dnnl::stream stream;
};

memory::dims dimsOf(const at::Tensor& t) { return memory::dims(t.sizes().begin(), t.sizes().end()); }

// The plain format tag of a blocked/plain activation layout, so small tensors (SE scales) can match it.
tag tagOf(const memory::desc& md) {
  for (tag t : {tag::nChw16c, tag::nChw8c, tag::nhwc, tag::nchw})
    if (md == memory::desc(md.dims(), dt::f32, t)) return t;
  return tag::any;
}

// Every primitive gets its scratchpad from the caller's workspace: oneDNN's own (library-managed)
// scratchpad is shared between threads unless the library was built for concurrent execution, and
// concurrent infer() calls would corrupt each other's temporaries.
dnnl::primitive_attr userScratchpad(dnnl::primitive_attr attr = {}) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

class Builder {
 public:
  explicit Builder(const dnnl::engine& eng) : eng_(eng), stream_(eng) {}

  // Record a primitive with its arguments and its scratchpad.
  template <typename PrimitiveDesc, typename Primitive>
  void add(const PrimitiveDesc& pd, std::vector<std::pair<int, Slot>> args) {
    const auto scratch = pd.scratchpad_desc();
    scratch_bytes_ = std::max(scratch_bytes_, scratch.get_size());
    if (scratch.get_size() > 0) args.emplace_back(DNNL_ARG_SCRATCHPAD, Slot{Slot::Scratch, -1, scratch, {}});
    steps_.push_back(Step{Primitive(pd), std::move(args)});
  }

  int newBuffer() {
    sizes_.push_back(0);
    return static_cast<int>(sizes_.size()) - 1;
  }
  Activation activation(int buffer, const memory::desc& md) {
    sizes_[buffer] = std::max(sizes_[buffer], md.get_size());
    return {buffer, md};
  }
  Slot bufferSlot(const Activation& a) { return Slot{Slot::Buffer, a.buffer, a.md, {}}; }

  // A constant: the tensor's values reordered from `user_tag` into `packed_md` (oneDNN-owned memory).
  Slot constant(const at::Tensor& t, const memory::dims& dims, tag user_tag, const memory::desc& packed_md) {
    auto src = t.contiguous();
    memory user({dims, dt::f32, user_tag}, eng_, src.data_ptr());
    constants_.push_back(std::make_unique<PageBuffer>(packed_md.get_size()));
    memory packed(packed_md, eng_, constants_.back()->get());
    dnnl::reorder(user, packed).execute(stream_, user, packed);
    stream_.wait();
    constant_bytes_ += packed_md.get_size();
    return Slot{Slot::Constant, -1, packed_md, packed};
  }

  // Convolution + bias + optional residual sum into `sum_into` + activation (as post-ops).
  Activation conv(const Activation& in, const at::Tensor& weight, const at::Tensor& bias, int stride, int groups,
                  const std::vector<std::pair<dnnl::algorithm, std::pair<float, float>>>& eltwise,
                  const Activation* sum_into, int out_buffer, tag dst_tag = tag::any) {
    const auto src_dims = in.md.dims();
    const int o = static_cast<int>(weight.size(0)), k = static_cast<int>(weight.size(-1)), pad = k / 2;
    const auto oh = (src_dims[2] + 2 * pad - k) / stride + 1, ow = (src_dims[3] + 2 * pad - k) / stride + 1;
    memory::dims w_dims = groups == 1 ? dimsOf(weight)
                                      : memory::dims{groups, o / groups, weight.size(1), k, k};
    const tag w_tag = groups == 1 ? tag::oihw : tag::goihw;
    memory::desc dst_md = sum_into ? sum_into->md : memory::desc({src_dims[0], o, oh, ow}, dt::f32, dst_tag);
    memory::desc bias_md = bias.defined() ? memory::desc({o}, dt::f32, tag::x) : memory::desc();
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         in.md, memory::desc(w_dims, dt::f32, tag::any), bias_md, dst_md,
                                         {stride, stride}, {pad, pad}, {pad, pad});
    dnnl::post_ops ops;
    if (sum_into) ops.append_sum(1.f);
    for (const auto& [alg, ab] : eltwise) ops.append_eltwise(1.f, alg, ab.first, ab.second);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    dnnl::convolution_forward::primitive_desc pd(desc, userScratchpad(attr), eng_);
    std::vector<std::pair<int, Slot>> args;
    args.emplace_back(DNNL_ARG_SRC, bufferSlot(in));
    args.emplace_back(DNNL_ARG_WEIGHTS, constant(weight, w_dims, w_tag, pd.weights_desc()));
    if (bias.defined()) args.emplace_back(DNNL_ARG_BIAS, constant(bias, {o}, tag::x, bias_md));
    Activation out = sum_into ? *sum_into : activation(out_buffer, pd.dst_desc());
    args.emplace_back(DNNL_ARG_DST, bufferSlot(out));
    add<decltype(pd), dnnl::convolution_forward>(pd, std::move(args));
    return out;
  }

  // Global average pool to 1x1, in the input's layout family.
  Activation globalPool(const Activation& in, int out_buffer) {
    const auto d = in.md.dims();
    memory::desc dst({d[0], d[1], 1, 1}, dt::f32, tagOf(in.md));
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_avg_include_padding,
                                     in.md, dst, {1, 1}, {d[2], d[3]}, {0, 0}, {0, 0});
    dnnl::pooling_forward::primitive_desc pd(desc, userScratchpad(), eng_);
    Activation out = activation(out_buffer, pd.dst_desc());
    add<decltype(pd), dnnl::pooling_forward>(pd, {{DNNL_ARG_SRC, bufferSlot(in)}, {DNNL_ARG_DST, bufferSlot(out)}});
    return out;
  }

  // x *= scale (per channel, broadcast over space), in place.
  void multiplyInPlace(const Activation& x, const Activation& scale) {
    dnnl::binary::desc desc(dnnl::algorithm::binary_mul, x.md, scale.md, x.md);
    dnnl::binary::primitive_desc pd(desc, userScratchpad(), eng_);
    add<decltype(pd), dnnl::binary>(
        pd, {{DNNL_ARG_SRC_0, bufferSlot(x)}, {DNNL_ARG_SRC_1, bufferSlot(scale)}, {DNNL_ARG_DST, bufferSlot(x)}});
  }

  // The caller's NCHW input reordered into the first convolution's layout.
  void input(const memory::desc& plain, const Activation& dst) {
    dnnl::reorder::primitive_desc pd(eng_, plain, eng_, dst.md, userScratchpad());
    add<decltype(pd), dnnl::reorder>(pd, {{DNNL_ARG_FROM, Slot{Slot::Input, -1, plain, {}}}, {DNNL_ARG_TO, bufferSlot(dst)}});
  }

  // Classifier: inner product straight into the caller's [N, classes] output.
  void classifier(const Activation& in, const at::Tensor& weight, const at::Tensor& bias) {
    const auto d = in.md.dims();
    const auto classes = weight.size(0);
    memory::dims w_dims{classes, d[1], d[2], d[3]};
    memory::desc dst({d[0], classes}, dt::f32, tag::nc), bias_md({classes}, dt::f32, tag::x);
    dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, in.md,
                                           memory::desc(w_dims, dt::f32, tag::any), bias_md, dst);
    dnnl::inner_product_forward::primitive_desc pd(desc, userScratchpad(), eng_);
    add<decltype(pd), dnnl::inner_product_forward>(
        pd, {{DNNL_ARG_SRC, bufferSlot(in)},
             {DNNL_ARG_WEIGHTS, constant(weight.view(w_dims), w_dims, tag::oihw, pd.weights_desc())},
             {DNNL_ARG_BIAS, constant(bias, {classes}, tag::x, bias_md)},
             {DNNL_ARG_DST, Slot{Slot::Output, -1, dst, {}}}});
  }

  dnnl::engine eng_;
  dnnl::stream stream_;
  std::vector<std::size_t> sizes_;
  std::vector<Step> steps_;
  std::vector<std::unique_ptr<PageBuffer>> constants_;  // packed weights and biases
  std::size_t constant_bytes_ = 0, scratch_bytes_ = 0;
};

using Eltwise = std::vector<std::pair<dnnl::algorithm, std::pair<float, float>>>;

Eltwise eltwiseFor(nn::Act act) {
  switch (act) {
    case nn::Act::ReLU: return {{dnnl::algorithm::eltwise_relu, {0.f, 0.f}}};
    case nn::Act::HSwish: return {{dnnl::algorithm::eltwise_hardswish, {0.f, 0.f}}};
    case nn::Act::None: break;
  }
  return {};
}

// hard-sigmoid(x) = relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1)
const Eltwise kHardSigmoid = {{dnnl::algorithm::eltwise_linear, {1.f / 6.f, 0.5f}},
                              {dnnl::algorithm::eltwise_clip, {0.f, 1.f}}};

class OneDnnPlan final : public ExecutionPlan {
 public:
  explicit OneDnnPlan(const nn::StaticSubnet& net)
      : ExecutionPlan(net.config), engine_(dnnl::engine::kind::cpu, 0), classes_(net.classifier_weight.size(0)) {
    Builder b(engine_);
    const int r = net.config.r;
    const int in_channels = static_cast<int>(net.stem.weight.size(1));
    input_md_ = memory::desc({1, in_channels, r, r}, dt::f32, tag::nchw);
    // Ping-pong buffers for block inputs/outputs, one for the expanded and one for the depthwise output,
    // small ones for SE and the head.
    const int ping = b.newBuffer(), pong = b.newBuffer(), expanded = b.newBuffer(), depthwise = b.newBuffer(),
              stem_in = b.newBuffer(), pooled = b.newBuffer(), hidden = b.newBuffer(), scale = b.newBuffer();

    // The stem picks its own input layout (asked with an 'any' source); the caller's NCHW input is
    // reordered into it.
    Activation in{stem_in, {}};
    const auto stem = foldConv(net.stem);
    {
      const int k = stem.kernel(), pad = k / 2, s = stem.stride, o = stem.outChannels();
      const auto oh = (r + 2 * pad - k) / s + 1;
      dnnl::convolution_forward::desc probe(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          memory::desc({1, in_channels, r, r}, dt::f32, tag::any),
          memory::desc(dimsOf(stem.weight), dt::f32, tag::any), memory::desc({o}, dt::f32, tag::x),
          memory::desc({1, o, oh, oh}, dt::f32, tag::any), {s, s}, {pad, pad}, {pad, pad});
      in = b.activation(stem_in, dnnl::convolution_forward::primitive_desc(probe, engine_).src_desc());
    }
    b.input(input_md_, in);
    Activation x = b.conv(in, stem.weight, stem.bias, stem.stride, 1, eltwiseFor(stem.act), nullptr, ping);

    for (const auto& blk : net.blocks) {
      Activation y = x;
      if (blk.expand) {
        const auto e = foldConv(*blk.expand);
        y = b.conv(x, e.weight, e.bias, 1, 1, eltwiseFor(e.act), nullptr, expanded, tagOf(x.md));
      }
      const auto dw = foldConv(blk.depthwise);
      y = b.conv(y, dw.weight, dw.bias, dw.stride, dw.groups, eltwiseFor(dw.act), nullptr, depthwise, tagOf(y.md));
      if (blk.se) {
        auto p = b.globalPool(y, pooled);
        auto h = b.conv(p, blk.se->reduce_weight, blk.se->reduce_bias, 1, 1, eltwiseFor(nn::Act::ReLU), nullptr, hidden, tagOf(y.md));
        auto s = b.conv(h, blk.se->expand_weight, blk.se->expand_bias, 1, 1, kHardSigmoid, nullptr, scale, tagOf(y.md));
        b.multiplyInPlace(y, s);
      }
      const auto pr = foldConv(blk.project);
      if (blk.residual) {
        x = b.conv(y, pr.weight, pr.bias, 1, 1, {}, &x, x.buffer);
      } else {
        x = b.conv(y, pr.weight, pr.bias, 1, 1, {}, nullptr, x.buffer == ping ? pong : ping, tagOf(x.md));
      }
    }
    const auto fe = foldConv(net.final_expand);
    x = b.conv(x, fe.weight, fe.bias, 1, 1, eltwiseFor(fe.act), nullptr, expanded, tagOf(x.md));
    x = b.globalPool(x, pooled);
    x = b.conv(x, net.feature_mix_weight, at::Tensor(), 1, 1, eltwiseFor(nn::Act::HSwish), nullptr, hidden, tagOf(x.md));
    b.classifier(x, net.classifier_weight, net.classifier_bias);

    steps_ = std::move(b.steps_);
    buffer_sizes_ = std::move(b.sizes_);
    constants_ = std::move(b.constants_);
    constant_bytes_ = b.constant_bytes_;
    scratch_bytes_ = b.scratch_bytes_;
    releaseWorkspace(makeWorkspace());  // the first caller does not pay for it
  }

  at::Tensor run(const at::Tensor& input) const override {
    const auto n = input.size(0);
    auto out = at::empty({n, classes_}, at::TensorOptions().dtype(at::kFloat));
    auto x = input.contiguous();
    auto ws = acquireWorkspace();
    const auto per_image = x.numel() / n;
    for (std::int64_t i = 0; i < n; ++i) {  // the plan is built for batch 1
      for (auto* m : ws->inputs) m->set_data_handle(x.data_ptr<float>() + i * per_image);
      for (auto* m : ws->outputs) m->set_data_handle(out.data_ptr<float>() + i * classes_);
      for (std::size_t s = 0; s < steps_.size(); ++s) steps_[s].primitive.execute(ws->stream, ws->args[s]);
      ws->stream.wait();
    }
    releaseWorkspace(std::move(ws));
    return out;
  }

  std::size_t bytes() const override {
    std::size_t activations = 0;
    for (auto s : buffer_sizes_) activations += s;
    return constant_bytes_ + activations + scratch_bytes_;
  }
  const char* backend() const override { return "onednn"; }

 private:
  std::unique_ptr<Workspace> makeWorkspace() const {
    auto ws = std::make_unique<Workspace>();
    ws->stream = dnnl::stream(engine_);
    for (auto size : buffer_sizes_) ws->buffers.push_back(std::make_unique<PageBuffer>(size));
    ws->scratch = std::make_unique<PageBuffer>(scratch_bytes_);
    ws->args.resize(steps_.size());
    for (std::size_t s = 0; s < steps_.size(); ++s) {
      for (const auto& [arg, slot] : steps_[s].args) {
        switch (slot.kind) {
          case Slot::Buffer: ws->args[s][arg] = memory(slot.md, engine_, ws->buffers[slot.buffer]->get()); break;
          case Slot::Constant: ws->args[s][arg] = slot.constant; break;
          case Slot::Scratch: ws->args[s][arg] = memory(slot.md, engine_, ws->scratch->get()); break;
          case Slot::Input:
          case Slot::Output: ws->args[s][arg] = memory(slot.md, engine_, DNNL_MEMORY_NONE); break;
        }
      }
    }
    // Pointers into the maps are stable: nothing is inserted after this point.
    for (std::size_t s = 0; s < steps_.size(); ++s)
      for (const auto& [arg, slot] : steps_[s].args) {
        if (slot.kind == Slot::Input) ws->inputs.push_back(&ws->args[s][arg]);
        if (slot.kind == Slot::Output) ws->outputs.push_back(&ws->args[s][arg]);
      }
    return ws;
  }

  std::unique_ptr<Workspace> acquireWorkspace() const {
    {
      std::lock_guard<std::mutex> lock(pool_mutex_);
      if (!pool_.empty()) {
        auto ws = std::move(pool_.back());
        pool_.pop_back();
        return ws;
      }
    }
    return makeWorkspace();  // another thread holds the pooled one: concurrent callers get their own
  }

  void releaseWorkspace(std::unique_ptr<Workspace> ws) const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (pool_.size() < 4) pool_.push_back(std::move(ws));
  }

  dnnl::engine engine_;
  std::int64_t classes_;
  memory::desc input_md_;
  std::vector<Step> steps_;
  std::vector<std::size_t> buffer_sizes_;
  std::vector<std::unique_ptr<PageBuffer>> constants_;
  std::size_t constant_bytes_ = 0, scratch_bytes_ = 0;
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Workspace>> pool_;
};

}  // namespace

bool hasOneDnn() { return true; }

std::shared_ptr<const ExecutionPlan> buildOneDnnPlan(const nn::StaticSubnet& net) {
  try {
    return std::make_shared<OneDnnPlan>(net);
  } catch (const dnnl::error& e) {
    throw Error(fmt::format("oneDNN could not build a plan for {}: {} (status {})", net.config.summary(), e.what(),
                            static_cast<int>(e.status)));
  }
}

}  // namespace dyndnn::engine

#else  // no oneDNN in this build: the ATen plan serves the CPU

namespace dyndnn::engine {
bool hasOneDnn() { return false; }
std::shared_ptr<const ExecutionPlan> buildOneDnnPlan(const nn::StaticSubnet&) {
  throw Error("this dyndnn build has no oneDNN backend");
}
}  // namespace dyndnn::engine

#endif
