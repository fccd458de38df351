#pragma once
// ModelCore: what a DynamicModel is without the runtime manager. The package, the supernet, the plan cache and
// the active sub-network. DynamicModel owns it through a shared handle and so does the ModelController that
// drives it for the runtime manager: moving a DynamicModel moves only the handle, so nothing ever re-points.

#include <ATen/core/Tensor.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/model.hpp"
#include "engine/execution_plan.hpp"
#include "engine/plan_cache.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn {

class ModelCore {
 public:
  /// Opens and validates the package, activates its first operating point (the largest sub-network when it has
  /// none) and starts prefetching the others when the options ask for it.
  ModelCore(const std::string& path, const ModelOptions& options);
  ModelCore(const ModelCore&) = delete;
  ModelCore& operator=(const ModelCore&) = delete;

  const PackageInfo& info() const { return info_; }
  const std::vector<OperatingPoint>& operatingPoints() const { return package_.operating_points; }
  const nn::Supernet& supernet() const { return *supernet_; }

  /// What to build for an operating point or an explicit config, and the cache key it goes under.
  struct Request {
    std::string name, key;
    SubnetConfig config;
    int operating_point = -1;  // whose BN statistics (the supernet's when -1)
  };
  /// InvalidArgument naming the known operating points when there is no such name.
  Request byName(const std::string& name) const;
  /// InvalidArgument saying which field of the config is wrong.
  Request byConfig(const SubnetConfig& config) const;

  /// Switch now, blocking until the plan is ready; overrides any pending request.
  void activate(const Request& r);
  /// Switch when the plan is ready (the first infer() after that swaps).
  void request(const Request& r);
  bool switchPending() const;
  std::string lastSwitchError() const;

  /// The active sub-network as it was when the call started: name, normalised config and plan.
  struct Active {
    std::string name;
    SubnetConfig config;
    engine::PlanPtr plan;
  };
  std::shared_ptr<const Active> active() const;
  bool isActive(const std::string& operating_point) const { return active()->name == operating_point; }

  /// The plan of an operating point (built and cached when it is not cached yet).
  engine::PlanPtr planFor(const Request& r);
  engine::PlanCache& cache() { return cache_; }

  at::Tensor infer(const at::Tensor& input);
  at::Tensor infer(const ImageView& image);

  void setThreads(int threads);  // InvalidArgument outside 0..1024
  int threads() const { return threads_.load(std::memory_order_relaxed); }

 private:
  engine::PlanCache::Builder builder(const Request& r) const;
  // Adopt a pending plan that has finished building; called with `mutex_` held on every infer().
  void swapIfReadyLocked();
  std::shared_ptr<const Active> current();  // active(), after adopting a finished pending plan
  at::Tensor run(const Active& a, const at::Tensor& prepared) const;

  struct Pending {
    std::string name;
    SubnetConfig config;
    engine::PlanFuture plan;
  };

  at::Device device_;  // first: the options are checked before the package is opened
  engine::Backend backend_;
  format::Package package_;
  std::unique_ptr<nn::Supernet> supernet_;
  std::atomic<int> threads_;  // ModelOptions::threads, changeable at run time
  PackageInfo info_;
  engine::PlanCache cache_;  // after supernet_: its worker stops before the weights go away

  mutable std::mutex mutex_;
  std::shared_ptr<const Active> active_;  // replaced as a whole, so a running call keeps its own
  std::optional<Pending> pending_;
  std::string last_switch_error_;
};

}  // namespace dyndnn
