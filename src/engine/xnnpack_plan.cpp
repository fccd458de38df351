// The XNNPACK backend: the optimised graph's convolutions (dense, grouped, depthwise), linear layers, pools,
// clamps, hard-swish, sigmoid, additions and multiplications run on XNNPACK's operators, whose NEON kernels are
// what ARM boards have (Debian's oneDNN runs its reference code there, FACTS 8). 4-D values live in NHWC
// (ATen tensors in channels-last format, so the ops XNNPACK lacks run on the same tensors through ATen's
// vectorised CPU kernels: matmul, layer norm, softmax, GELU, hard-sigmoid, the shape ops).
//
// XNNPACK operators are bound to their input and output pointers by setup, so one set cannot serve two threads at
// once: a plan keeps instances (operators, weights packed by XNNPACK, a thread pool) and each run() borrows one.
// Threads: the size of the calling thread's OpenMP team (useThreads), run on a pthreadpool of that size.

#include "engine/execution_plan.hpp"

#ifdef DYNDNN_HAVE_XNNPACK

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <omp.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <mutex>

#include "dyndnn/error.hpp"
#include "engine/passes.hpp"
#include "engine/reference.hpp"
#include "engine/xnnpack_steps.hpp"

namespace dyndnn::engine {
namespace {

using namespace xnnpack;  // Kind, Step, Operator and the per-node planning

struct PoolDeleter {
  void operator()(pthreadpool_t p) const { pthreadpool_destroy(p); }
};

// One set of operators; used by one run() at a time.
struct Instance {
  std::vector<Operator> ops;  // per node; null where the node runs through ATen
  std::unique_ptr<pthreadpool, PoolDeleter> pool;
  std::size_t pool_threads = 0;

  pthreadpool_t poolFor(int threads) {
    if (threads <= 1) return nullptr;  // the calling thread alone
    if (pool_threads != static_cast<std::size_t>(threads)) {
      pool.reset(pthreadpool_create(static_cast<std::size_t>(threads)));
      pool_threads = pool ? static_cast<std::size_t>(threads) : 0;
    }
    return pool.get();
  }
};

// XNNPACK's kernels may read up to XNN_EXTRA_BYTES past the end of an input (whole vectors at the edges), so
// every buffer an operator reads carries that slack: the plan's own values are allocated with it, and a value
// without it (the caller's input, an ATen result) is copied once into one that has it.
constexpr std::int64_t kSlackFloats = (XNN_EXTRA_BYTES + sizeof(float) - 1) / sizeof(float);

at::Tensor emptyPadded(at::IntArrayRef shape) {
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  auto storage = at::empty({numel + kSlackFloats});
  if (shape.size() != 4) return storage.narrow(0, 0, numel).view(shape);
  const auto C = shape[1], H = shape[2], W = shape[3];
  return storage.as_strided(shape, {H * W * C, 1, W * C, C});  // NCHW sizes, NHWC memory (channels-last)
}

bool hasSlack(const at::Tensor& t) {
  const auto used = static_cast<std::size_t>((t.storage_offset() + t.numel()) * t.element_size());
  return t.storage().nbytes() >= used + XNN_EXTRA_BYTES;
}

// A 4-D value in NHWC memory, others contiguous, with the slack above (a no-op for values the plan made).
at::Tensor dense(const at::Tensor& t) {
  const auto layout = t.dim() == 4 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (t.scalar_type() == at::kFloat && t.is_contiguous(layout) && hasSlack(t)) return t;
  auto out = emptyPadded(t.sizes());
  out.copy_(t);
  return out;
}

at::Tensor emptyLike(const Node& n, std::int64_t batch) {
  auto shape = n.shape;
  shape[0] = batch;
  return emptyPadded(shape);
}

void activateInPlace(at::Tensor& y, Act act) {
  switch (act) {
    case Act::None: break;
    case Act::ReLU: at::relu_(y); break;
    case Act::ReLU6: at::hardtanh_(y, 0.0, 6.0); break;
    case Act::HSwish: at::hardswish_(y); break;
    case Act::HSigmoid: at::hardsigmoid_(y); break;
    case Act::Sigmoid: at::sigmoid_(y); break;
    case Act::GELU: y.copy_(activate(y, act)); break;
  }
}

// Dimensions as XNNPACK's n-d operators read memory: NHWC for 4-D values.
std::vector<std::size_t> memoryDims(const at::Tensor& t) {
  std::vector<std::size_t> d;
  for (auto s : t.sizes()) d.push_back(static_cast<std::size_t>(s));
  if (d.size() == 4) d = {d[0], d[2], d[3], d[1]};
  return d;
}

class XnnpackPlan final : public ExecutionPlan {
 public:
  XnnpackPlan(Graph g, std::vector<Step> steps, std::vector<std::string> kernels)
      : ExecutionPlan(g, std::move(kernels)), graph_(std::move(g)), steps_(std::move(steps)) {
    // Our copies of the constants, and XNNPACK's packed copy of them in the first instance (about as large; every
    // further instance, one per thread running this plan at the same time, adds another).
    for (const auto& s : steps_) {
      for (const auto* t : {&s.weight, &s.bias})
        if (t->defined()) bytes_ += 2 * static_cast<std::size_t>(t->numel()) * sizeof(float);
      if (s.depthwise) bytes_ += (s.depthwise->weight.size() + s.depthwise->bias.size()) * sizeof(float);
    }
    release(makeInstance());  // fails here, at compile time, if XNNPACK refuses an operator
  }

  at::Tensor run(const at::Tensor& input) const override {
    at::NoGradGuard no_grad;
    const auto& expected = graph_.inputShape();
    if (input.dim() != static_cast<std::int64_t>(expected.size()) ||
        !std::equal(expected.begin() + 1, expected.end(), input.sizes().begin() + 1) || input.size(0) < 1)
      throw InvalidArgument("op graph input: got a tensor of the wrong shape; the graph takes " +
                            shapeText(expected) + " with any batch");
    auto instance = acquire();
    struct Return {
      const XnnpackPlan* plan;
      std::unique_ptr<Instance>& i;
      ~Return() { plan->release(std::move(i)); }
    } give_back{this, instance};
    pthreadpool_t pool = instance->poolFor(omp_get_max_threads());
    const auto& nodes = graph_.nodes();
    std::vector<at::Tensor> values(nodes.size());
    values[0] = dense(input);
    for (std::size_t i = 1; i < nodes.size(); ++i) {
      const auto& n = nodes[i];
      const auto& s = steps_[i];
      at::Tensor y = s.kind == Kind::ATen ? runNodeReference(n, values)
                                          : runOperator(n, static_cast<int>(i), s, instance->ops[i].get(), values, pool);
      for (const auto& p : s.rest) {
        const auto& other = values[static_cast<std::size_t>(p.value < 0 ? 0 : p.value)];
        if (s.kind == Kind::ATen) {  // y may be a view of an input (a reshape): never in place
          y = p.kind == PostOp::Sum ? y + other : activate(y, p.act);
        } else {  // the plan's own buffer: in place keeps its layout and its slack
          if (p.kind == PostOp::Sum) y.add_(other);
          else activateInPlace(y, p.act);
        }
      }
      values[i] = std::move(y);
    }
    return values[static_cast<std::size_t>(graph_.output())].contiguous();
  }
  std::size_t bytes() const override { return bytes_; }
  const char* backend() const override { return "xnnpack"; }

 private:
  at::Tensor runOperator(const Node& n, int id, const Step& s, xnn_operator_t op, std::vector<at::Tensor>& values,
                         pthreadpool_t pool) const {
    auto& x = values[static_cast<std::size_t>(n.inputs[0])];
    x = dense(x);  // in place: later readers reuse the dense copy
    const float* in = x.data_ptr<float>();
    const auto rows = x.size(0);  // a value computed from constants alone has batch 1
    at::Tensor y;
    xnn_status st = xnn_status_success;
    const auto N = static_cast<std::size_t>(rows);
    switch (s.kind) {
      case Kind::Conv:
      case Kind::MaxPool:
      case Kind::AvgPool: {
        y = emptyLike(n, rows);
        const auto H = static_cast<std::size_t>(x.size(2)), W = static_cast<std::size_t>(x.size(3));
        float* o = y.data_ptr<float>();
        st = s.kind == Kind::Conv      ? xnn_setup_convolution2d_nhwc_f32(op, N, H, W, in, o, pool)
             : s.kind == Kind::MaxPool ? xnn_setup_max_pooling2d_nhwc_f32(op, N, H, W, in, o, pool)
                                       : xnn_setup_average_pooling2d_nhwc_f32(op, N, H, W, in, o, pool);
        break;
      }
      case Kind::Depthwise:
        y = emptyLike(n, rows);
        s.depthwise->run(in, rows, x.size(2), x.size(3), y.data_ptr<float>(), pool);
        return y;
      case Kind::GlobalAvgPool:
        y = emptyLike(n, rows);
        st = xnn_setup_global_average_pooling_nwc_f32(op, N, static_cast<std::size_t>(x.size(2) * x.size(3)), in,
                                                      y.data_ptr<float>(), pool);
        break;
      case Kind::Linear: {
        y = emptyLike(n, rows);
        const auto m = static_cast<std::size_t>(x.numel() / n.weight.size(1));
        st = xnn_setup_fully_connected_nc_f32(op, m, in, y.data_ptr<float>(), pool);
        break;
      }
      case Kind::Add:
      case Kind::Mul: {
        auto& b = values[static_cast<std::size_t>(n.inputs[1])];
        b = dense(b);
        const auto da = memoryDims(x), db = memoryDims(b);
        y = emptyLike(n, std::max(rows, b.size(0)));
        st = s.kind == Kind::Add ? xnn_setup_add_nd_f32(op, da.size(), da.data(), db.size(), db.data(), in,
                                                        b.data_ptr<float>(), y.data_ptr<float>(), pool)
                                 : xnn_setup_multiply_nd_f32(op, da.size(), da.data(), db.size(), db.data(), in,
                                                             b.data_ptr<float>(), y.data_ptr<float>(), pool);
        break;
      }
      case Kind::Clamp:
      case Kind::HSwish:
      case Kind::Sigmoid: {
        y = emptyLike(n, rows);
        const auto count = static_cast<std::size_t>(x.numel());  // channels 1, stride 1: the whole tensor
        float* o = y.data_ptr<float>();
        st = s.kind == Kind::Clamp    ? xnn_setup_clamp_nc_f32(op, count, in, o, pool)
             : s.kind == Kind::HSwish ? xnn_setup_hardswish_nc_f32(op, count, in, o, pool)
                                      : xnn_setup_sigmoid_nc_f32(op, count, in, o, pool);
        break;
      }
      case Kind::ATen: break;
    }
    check(st, n, id, "setup");
    check(xnn_run_operator(op, pool), n, id, "running");
    return y;
  }

  std::unique_ptr<Instance> makeInstance() const {
    auto instance = std::make_unique<Instance>();
    instance->ops.resize(steps_.size());
    for (std::size_t i = 1; i < steps_.size(); ++i)
      instance->ops[i] = createOperator(graph_, static_cast<int>(i), steps_[i]);
    return instance;
  }
  std::unique_ptr<Instance> acquire() const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        auto i = std::move(free_.back());
        free_.pop_back();
        return i;
      }
    }
    return makeInstance();  // another thread runs this plan right now: a set of its own
  }
  void release(std::unique_ptr<Instance> i) const {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(i));
  }

  Graph graph_;
  std::vector<Step> steps_;
  std::size_t bytes_ = 0;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<Instance>> free_;
};

void initialise() {
  static const xnn_status status = xnn_initialize(nullptr);
  if (status != xnn_status_success)
    throw Error(fmt::format("XNNPACK backend: xnn_initialize failed with status {} (an unsupported CPU?)",
                            static_cast<int>(status)));
}

}  // namespace

bool hasXnnpack() { return true; }

PlanPtr compileXnnpack(const Graph& graph) {
  initialise();
  at::NoGradGuard no_grad;
  auto g = optimise(graph);
  std::vector<Step> steps(g.nodes().size());
  std::vector<std::string> kernels(g.nodes().size(), "");
  for (std::size_t i = 1; i < steps.size(); ++i) {
    steps[i] = planStep(g, static_cast<int>(i));
    kernels[i] = kernelName(steps[i], g.nodes()[i]);
  }
  return std::make_shared<XnnpackPlan>(std::move(g), std::move(steps), std::move(kernels));
}

}  // namespace dyndnn::engine

#else  // no XNNPACK in this build

#include "dyndnn/error.hpp"

namespace dyndnn::engine {
bool hasXnnpack() { return false; }
PlanPtr compileXnnpack(const Graph&) {
  throw InvalidArgument("this dyndnn build has no XNNPACK backend (configure with XNNPACK and pthreadpool present)");
}
}  // namespace dyndnn::engine

#endif
