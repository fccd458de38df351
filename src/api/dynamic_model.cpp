#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "api/boundary.hpp"
#include "api/export_subnet.hpp"
#include "api/model_controller.hpp"
#include "api/model_core.hpp"
#include "dyndnn/error.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/profiling.hpp"

namespace dyndnn {

// The model's core (shared with the controller that drives it) and the runtime, which setRuntime() replaces.
struct DynamicModel::Impl {
  std::shared_ptr<ModelCore> core;
  // Its own mutex, so infer() only copies the pointer under it, and only once a runtime exists (has_runtime): a
  // model never given a target pays one atomic load per frame.
  mutable std::mutex runtime_mutex;
  std::shared_ptr<ModelController> controller;
  std::atomic<bool> has_runtime{false};

  std::shared_ptr<ModelController> runtime() const {
    if (!has_runtime.load(std::memory_order_acquire)) return nullptr;
    std::lock_guard<std::mutex> lock(runtime_mutex);
    return controller;
  }

  // A manual switch takes control back from the runtime manager (until the next setTarget()). The request was
  // validated when it was made, so a bad name or config leaves the manager running.
  void switchManually(const ModelCore::Request& r, bool wait) {
    if (auto c = runtime()) c->suspend();
    if (wait) core->activate(r);
    else core->request(r);
  }

  template <class In> at::Tensor infer(const In& input) const {
    if (auto c = runtime(); c && c->managed()) return c->infer(input);
    return core->infer(input);
  }
};

DynamicModel DynamicModel::load(const std::string& path, const ModelOptions& options) {
  return boundary("DynamicModel::load", [&] {
    auto impl = std::make_unique<Impl>();
    impl->core = std::make_shared<ModelCore>(path, options);
    return DynamicModel(std::move(impl));
  });
}

DynamicModel::DynamicModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DynamicModel::DynamicModel(DynamicModel&&) noexcept = default;
DynamicModel& DynamicModel::operator=(DynamicModel&&) noexcept = default;
DynamicModel::~DynamicModel() = default;

const PackageInfo& DynamicModel::info() const { return impl_->core->info(); }
const std::vector<OperatingPoint>& DynamicModel::operatingPoints() const { return impl_->core->operatingPoints(); }

void DynamicModel::setSubnet(const std::string& name) {
  boundary("setSubnet", [&] { impl_->switchManually(impl_->core->byName(name), true); });
}
void DynamicModel::setSubnet(const SubnetConfig& config) {
  boundary("setSubnet", [&] { impl_->switchManually(impl_->core->byConfig(config), true); });
}
void DynamicModel::requestSubnet(const std::string& name) {
  boundary("requestSubnet", [&] { impl_->switchManually(impl_->core->byName(name), false); });
}
void DynamicModel::requestSubnet(const SubnetConfig& config) {
  boundary("requestSubnet", [&] { impl_->switchManually(impl_->core->byConfig(config), false); });
}

bool DynamicModel::switchPending() const { return impl_->core->switchPending(); }
std::string DynamicModel::lastSwitchError() const { return impl_->core->lastSwitchError(); }

SubnetConfig DynamicModel::activeConfig() const { return impl_->core->active()->config; }
std::string DynamicModel::activeName() const { return impl_->core->active()->name; }
std::string DynamicModel::backend() const { return impl_->core->active()->plan->backend(); }
std::size_t DynamicModel::activePlanBytes() const { return impl_->core->active()->plan->bytes(); }

std::string DynamicModel::describeGraph(const std::string& operating_point) const {
  return boundary("describeGraph", [&] {
    const auto r = impl_->core->byName(operating_point);
    const auto plan = impl_->core->planFor(r);
    return fmt::format("{} on {} ({}, {:.1f} MB)\n{}", operating_point, plan->backend(), r.config.summary(),
                       plan->bytes() / 1e6, plan->describe());
  });
}

void DynamicModel::exportSubnet(const std::string& operating_point, const std::string& path) const {
  boundary("exportSubnet", [&] { dyndnn::exportSubnet(*impl_->core, impl_->core->byName(operating_point), path); });
}

void DynamicModel::exportSubnet(const SubnetConfig& config, const std::string& path) const {
  boundary("exportSubnet", [&] { dyndnn::exportSubnet(*impl_->core, impl_->core->byConfig(config), path); });
}

std::vector<DynamicModel::NodeKernel> DynamicModel::kernels(const std::string& operating_point) const {
  return boundary("kernels", [&] {
    const auto plan = operating_point.empty() ? impl_->core->active()->plan
                                              : impl_->core->planFor(impl_->core->byName(operating_point));
    const auto& nodes = plan->graph().nodes();
    const auto& kernels = plan->kernels();
    std::vector<NodeKernel> out;
    for (std::size_t i = 1; i < nodes.size(); ++i)
      out.push_back({engine::opName(nodes[i].op), nodes[i].name, kernels[i], engine::isReferenceKernel(kernels[i])});
    return out;
  });
}

PlanCacheStats DynamicModel::planCacheStats() const {
  auto s = impl_->core->cache().stats();
  return PlanCacheStats{s.hits, s.misses, s.evictions, s.builds, s.bytes, s.entries, s.budget};
}

void DynamicModel::setPlanCacheBudget(std::size_t bytes) { impl_->core->cache().setBudget(bytes); }

SubnetConfig DynamicModel::normalise(const SubnetConfig& config) const {
  return impl_->core->supernet().normalise(config);
}

Metrics DynamicModel::cost(const SubnetConfig& config) const { return impl_->core->supernet().cost(normalise(config)); }

at::Tensor DynamicModel::infer(const at::Tensor& input) const {
  return boundary("infer", [&] { return impl_->infer(input); });
}
at::Tensor DynamicModel::infer(const ImageView& image) const {
  return boundary("infer", [&] { return impl_->infer(image); });
}

void DynamicModel::setThreads(int threads) { impl_->core->setThreads(threads); }
int DynamicModel::threads() const { return impl_->core->threads(); }

void DynamicModel::setRuntime(RuntimeOptions options) {
  boundary("setRuntime", [&] { installRuntime(std::move(options)); });
}

void DynamicModel::installRuntime(RuntimeOptions options) {
  if (options.arbiter && options.registration.name.empty())  // before any profiling
    throw InvalidArgument("setRuntime: joining an arbiter needs RuntimeOptions::registration.name (unique per arbiter)");
  if (options.cpu_load_period_ms < 0)
    throw InvalidArgument(fmt::format("setRuntime: RuntimeOptions::cpu_load_period_ms must be >= 0 (0: never), not {}",
                                      options.cpu_load_period_ms));
  runtime::Profile profile;
  if (options.profile) {
    profile = std::move(*options.profile);
  } else {
    ProfilingOptions po;
    po.warmup = options.profile_warmup;
    po.runs = options.profile_runs;
    po.states = options.profile_states.empty() ? threadCountStates() : options.profile_states;
    if (auto c = impl_->runtime()) c->suspend();  // the measurement drives the model by hand
    measureProfile(*this, options.governor.get(), options.sensor.get(), po, profile);
    profile.model = info().path;
    profile.device = "this device (measured by setRuntime)";
  }
  std::set<int> thread_counts;
  for (const auto& e : profile.entries)
    if (const int t = hw::threadsOf(e.hw); t > 0) thread_counts.insert(t);
  auto next = std::make_shared<ModelController>(impl_->core, std::move(profile), std::move(options.governor),
                                                std::move(options.sensor), std::move(options.policy));
  // Another process on one core slows a thread count that no longer finds a free core far more than one that
  // does: with several thread counts to choose from, track a slowdown per thread count (as `dyndnn run` does).
  if (thread_counts.size() > 1) next->manager().setSlowdownPerThreads(true);
  // ... and tell the manager when another process leaves a core, so the placements it slowed are tried again.
  if (thread_counts.size() > 1 && options.cpu_load_period_ms > 0)
    next->watchCpuLoad(std::chrono::milliseconds(options.cpu_load_period_ms));
  auto previous = impl_->runtime();
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
    impl_->controller = next;
  }
  impl_->has_runtime.store(true, std::memory_order_release);
}

void DynamicModel::setTarget(const runtime::Target& target) {
  target.validate();  // before any profiling: a bad target costs nothing
  boundary("setTarget", [&] {
    if (!impl_->runtime()) installRuntime(RuntimeOptions{});
    impl_->runtime()->setTarget(target);
  });
}

bool DynamicModel::managed() const {
  auto c = impl_->runtime();
  return c && c->managed();
}

runtime::ManagerStats DynamicModel::runtimeStats() const {
  auto c = impl_->runtime();
  if (!c) throw InvalidArgument("runtimeStats(): no runtime manager yet; call setTarget() (or setRuntime()) first");
  return c->manager().stats();
}

std::shared_ptr<runtime::RuntimeManager> DynamicModel::runtimeManager() const {
  auto c = impl_->runtime();
  return c ? c->sharedManager() : nullptr;
}

}  // namespace dyndnn
