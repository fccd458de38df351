#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/managed_model.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/profiling.hpp"
#include "engine/execution_plan.hpp"
#include "engine/plan_cache.hpp"
#include "engine/preprocess.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn {
namespace {

// The sub-network that infer() runs; replaced as a whole so a running call keeps its own.
struct ActiveSubnet {
  std::string name;
  SubnetConfig config;
  engine::PlanPtr plan;
};

// A switch asked for with requestSubnet(), not yet in effect.
struct PendingSwitch {
  std::string name;
  SubnetConfig config;
  engine::PlanFuture plan;
};

}  // namespace

struct DynamicModel::Impl {
  Impl(format::Package p, const ModelOptions& o)
      : package(std::move(p)), supernet(nn::openSupernet(package)), options(o), threads(o.threads), cache(o.plan_cache_bytes) {}

  format::Package package;
  std::unique_ptr<nn::Supernet> supernet;
  ModelOptions options;
  std::atomic<int> threads;  // options.threads, changeable at run time (setThreads)
  PackageInfo info;
  at::Device device{at::kCPU};
  engine::PlanCache cache;  // after supernet: its worker stops before the weights go away

  mutable std::mutex mutex;
  std::shared_ptr<const ActiveSubnet> active;
  std::optional<PendingSwitch> pending;
  std::string last_switch_error;

  // The runtime manager (setRuntime/setTarget); its own mutex, so infer() only copies the pointer under it, and
  // only once a runtime exists (has_runtime): a model never given a target pays one atomic load per frame.
  mutable std::mutex runtime_mutex;
  std::shared_ptr<ManagedModel> managed;
  std::atomic<bool> has_runtime{false};

  std::shared_ptr<ManagedModel> managedModel() const {
    if (!has_runtime.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard<std::mutex> lock(runtime_mutex);
    return managed;
  }

  // What to build for an operating point / explicit config, and the cache key it goes under.
  struct Request {
    std::string name, key;
    SubnetConfig config;
    int operating_point = -1;  // whose BN statistics (the supernet's when -1)
  };

  Request byName(const std::string& name) const {
    const auto& ops = package.operating_points;
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (ops[i].name == name)
        return {name, "op:" + name, ops[i].config, static_cast<int>(i)};
    std::string known;
    for (const auto& op : ops) known += (known.empty() ? "" : ", ") + op.name;
    throw InvalidArgument(fmt::format("no operating point named '{}' in {} (known: {})", name, info.path,
                                      known.empty() ? "none" : known));
  }

  Request byConfig(const SubnetConfig& config) const {
    auto n = supernet->normalise(config);
    return {"", "cfg:" + n.toJson(), n, -1};
  }

  engine::PlanCache::Builder builder(const Request& r) const {
    return [this, config = r.config, op = r.operating_point] {
      at::NoGradGuard no_grad;
      auto plan = engine::compile(supernet->lower(config, op), device);
      // The plan holds its own packed copy: the supernet pages it read need not stay resident.
      package.file.dropResidentPages();
      return plan;
    };
  }

  void activateNow(const Request& r) {
    auto plan = cache.get(r.key, builder(r));
    auto next = std::make_shared<const ActiveSubnet>(ActiveSubnet{r.name, r.config, std::move(plan)});
    std::lock_guard<std::mutex> lock(mutex);
    active = std::move(next);
    pending.reset();  // an explicit blocking switch overrides any pending request
  }

  void request(const Request& r) {
    auto future = cache.prepare(r.key, builder(r));
    std::lock_guard<std::mutex> lock(mutex);
    pending = PendingSwitch{r.name, r.config, std::move(future)};
    swapIfReadyLocked();
  }

  // Adopt a pending plan that has finished building. Called with `mutex` held, on every infer().
  void swapIfReadyLocked() {
    if (!pending || pending->plan.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    try {
      active = std::make_shared<const ActiveSubnet>(ActiveSubnet{pending->name, pending->config, pending->plan.get()});
      last_switch_error.clear();
    } catch (const std::exception& e) {
      last_switch_error = e.what();
    }
    pending.reset();
  }

  std::shared_ptr<const ActiveSubnet> current() {
    std::lock_guard<std::mutex> lock(mutex);
    swapIfReadyLocked();
    return active;
  }

  std::shared_ptr<const ActiveSubnet> currentNoSwap() const {
    std::lock_guard<std::mutex> lock(mutex);
    return active;
  }

  // A manual switch takes control back from the runtime manager (until the next setTarget()). The request was
  // validated when it was made, so a bad name or config leaves the manager running.
  void switchManually(const Request& r, bool wait) {
    if (auto m = managedModel()) m->suspend();
    if (wait) activateNow(r);
    else request(r);
  }

  at::Tensor run(const ActiveSubnet& a, const at::Tensor& x) const {
    at::NoGradGuard no_grad;
    engine::useThreads(threads.load(std::memory_order_relaxed));
    return a.plan->run(x.to(device)).to(at::kCPU);
  }
};

DynamicModel DynamicModel::load(const std::string& path, const ModelOptions& options) {
  if (options.threads < 0 || options.threads > 1024)
    throw InvalidArgument(fmt::format("ModelOptions.threads = {}: use 0 (leave LibTorch's setting) or 1..1024",
                                      options.threads));
  at::Device device(at::kCPU);
  if (options.device == Device::CUDA) {
    if (!at::hasCUDA())
      throw InvalidArgument("ModelOptions.device = CUDA, but this LibTorch build sees no CUDA device; use Device::CPU");
    device = at::Device(at::kCUDA);
  }

  auto impl = std::make_unique<Impl>(format::Package::open(path, options.verify_checksum), options);
  impl->device = device;
  auto& pkg = impl->package;
  impl->info = PackageInfo{pkg.path(), pkg.family, pkg.format_version, impl->supernet->numClasses(),
                           pkg.file.fileBytes(), pkg.file.entries().size(), pkg.input};
  if (!pkg.operating_points.empty()) {
    impl->activateNow(impl->byName(pkg.operating_points.front().name));
  } else {
    impl->activateNow(impl->byConfig(impl->supernet->largest()));
  }
  pkg.file.dropResidentPages();  // validation read every byte; plans hold what they need
  if (options.prefetch_operating_points) {
    std::vector<std::pair<std::string, engine::PlanCache::Builder>> jobs;
    for (std::size_t i = 1; i < pkg.operating_points.size(); ++i) {
      auto r = impl->byName(pkg.operating_points[i].name);
      jobs.emplace_back(r.key, impl->builder(r));
    }
    impl->cache.prefetch(std::move(jobs));
  }
  return DynamicModel(std::move(impl));
}

DynamicModel::DynamicModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DynamicModel::DynamicModel(DynamicModel&& other) noexcept : impl_(std::move(other.impl_)) {
  if (impl_ && impl_->managed) impl_->managed->model_ = this;
}

DynamicModel& DynamicModel::operator=(DynamicModel&& other) noexcept {
  impl_ = std::move(other.impl_);
  if (impl_ && impl_->managed) impl_->managed->model_ = this;
  return *this;
}
DynamicModel::~DynamicModel() = default;

const PackageInfo& DynamicModel::info() const { return impl_->info; }
const std::vector<OperatingPoint>& DynamicModel::operatingPoints() const { return impl_->package.operating_points; }

void DynamicModel::setSubnet(const std::string& name) { impl_->switchManually(impl_->byName(name), true); }
void DynamicModel::setSubnet(const SubnetConfig& config) { impl_->switchManually(impl_->byConfig(config), true); }
void DynamicModel::requestSubnet(const std::string& name) { impl_->switchManually(impl_->byName(name), false); }
void DynamicModel::requestSubnet(const SubnetConfig& config) { impl_->switchManually(impl_->byConfig(config), false); }
void DynamicModel::setSubnetDirect(const std::string& name) { impl_->activateNow(impl_->byName(name)); }

bool DynamicModel::switchPending() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->pending.has_value();
}

std::string DynamicModel::lastSwitchError() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_switch_error;
}

SubnetConfig DynamicModel::activeConfig() const { return impl_->currentNoSwap()->config; }
std::string DynamicModel::activeName() const { return impl_->currentNoSwap()->name; }
bool DynamicModel::isActive(const std::string& operating_point) const {
  return impl_->currentNoSwap()->name == operating_point;
}
std::string DynamicModel::backend() const { return impl_->currentNoSwap()->plan->backend(); }
std::size_t DynamicModel::activePlanBytes() const { return impl_->currentNoSwap()->plan->bytes(); }

std::string DynamicModel::describeGraph(const std::string& operating_point) const {
  const auto r = impl_->byName(operating_point);
  const auto plan = impl_->cache.get(r.key, impl_->builder(r));
  return fmt::format("{} on {} ({}, {:.1f} MB)\n{}", operating_point, plan->backend(), r.config.summary(),
                     plan->bytes() / 1e6, plan->describe());
}

PlanCacheStats DynamicModel::planCacheStats() const {
  auto s = impl_->cache.stats();
  return PlanCacheStats{s.hits, s.misses, s.evictions, s.builds, s.bytes, s.entries, s.budget};
}

void DynamicModel::setPlanCacheBudget(std::size_t bytes) { impl_->cache.setBudget(bytes); }

SubnetConfig DynamicModel::normalise(const SubnetConfig& config) const { return impl_->supernet->normalise(config); }

Metrics DynamicModel::cost(const SubnetConfig& config) const {
  return impl_->supernet->cost(normalise(config));
}

at::Tensor DynamicModel::infer(const at::Tensor& input) const {
  if (auto m = managedModel(); m && m->managed()) return m->infer(input);
  return inferDirect(input);
}

at::Tensor DynamicModel::infer(const ImageView& image) const {
  if (auto m = managedModel(); m && m->managed()) return m->infer(image);
  return inferDirect(image);
}

at::Tensor DynamicModel::inferDirect(const at::Tensor& input) const {
  auto a = impl_->current();
  return impl_->run(*a, engine::prepareTensor(input, impl_->info.input.channels, a->config.r));
}

at::Tensor DynamicModel::inferDirect(const ImageView& image) const {
  auto a = impl_->current();
  return impl_->run(*a, engine::prepareImage(image, impl_->info.input, a->config.r));
}

void DynamicModel::setThreads(int threads) {
  if (threads < 0 || threads > 1024)
    throw InvalidArgument(fmt::format("setThreads({}): use 0 (follow LibTorch's setting) or 1..1024", threads));
  impl_->threads.store(threads, std::memory_order_relaxed);
}

int DynamicModel::threads() const { return impl_->threads.load(std::memory_order_relaxed); }

std::shared_ptr<ManagedModel> DynamicModel::managedModel() const { return impl_->managedModel(); }

void DynamicModel::setRuntime(RuntimeOptions options) {
  if (options.arbiter && options.registration.name.empty())  // before any profiling
    throw InvalidArgument("setRuntime: joining an arbiter needs RuntimeOptions::registration.name (unique per arbiter)");
  runtime::Profile profile;
  if (options.profile) {
    profile = std::move(*options.profile);
  } else {
    ProfilingOptions po;
    po.warmup = options.profile_warmup;
    po.runs = options.profile_runs;
    po.states = options.profile_states.empty() ? threadCountStates() : options.profile_states;
    if (auto m = managedModel()) m->suspend();  // the measurement drives the model by hand
    measureProfile(*this, options.governor.get(), options.sensor.get(), po, profile);
    profile.model = impl_->info.path;
    profile.device = "this device (measured by setRuntime)";
  }
  std::set<std::int64_t> thread_counts;
  for (const auto& e : profile.entries)
    if (auto t = e.hw.find("threads"); t != e.hw.end()) thread_counts.insert(t->second);
  auto next = std::make_shared<ManagedModel>(*this, std::move(profile), std::move(options.governor),
                                             std::move(options.sensor), std::move(options.policy));
  // Another process on one core slows a thread count that no longer finds a free core far more than one that
  // does: with several thread counts to choose from, track a slowdown per thread count (as `dyndnn run` does).
  if (thread_counts.size() > 1) next->manager().setSlowdownPerThreads(true);
  std::shared_ptr<ManagedModel> previous;
  {
    std::lock_guard<std::mutex> lock(impl_->runtime_mutex);
    previous = impl_->managed;
  }
  // The previous runtime leaves its arbiter first (its name is free again; a frame still running on it keeps its
  // decision). The new one joins before it is installed; if that fails, the previous one rejoins and stays.
  const auto left = previous ? previous->leave() : std::nullopt;
  if (previous && previous->managed()) next->setTarget(previous->manager().target());
  if (options.arbiter) {
    try {
      next->join(options.arbiter, std::move(options.registration));
    } catch (...) {
      if (left) previous->join(left->arbiter, left->registration);
      throw;
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl_->runtime_mutex);
    impl_->managed = next;
  }
  impl_->has_runtime.store(true, std::memory_order_release);
}

void DynamicModel::setTarget(const runtime::Target& target) {
  target.validate();  // before any profiling: a bad target costs nothing
  if (!managedModel()) setRuntime(RuntimeOptions{});
  managedModel()->setTarget(target);
}

bool DynamicModel::managed() const {
  auto m = managedModel();
  return m && m->managed();
}

runtime::ManagerStats DynamicModel::runtimeStats() const {
  auto m = managedModel();
  if (!m) throw InvalidArgument("runtimeStats(): no runtime manager yet; call setTarget() (or setRuntime()) first");
  return m->manager().stats();
}

std::shared_ptr<runtime::RuntimeManager> DynamicModel::runtimeManager() const {
  auto m = managedModel();
  return m ? m->sharedManager() : nullptr;
}

}  // namespace dyndnn
