#pragma once
// PlanCache: execution plans by key under a memory budget (least recently used evicted first), and a
// background worker that builds plans while the caller keeps serving with the plan it has.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/execution_plan.hpp"

namespace dyndnn::engine {

using PlanPtr = std::shared_ptr<const ExecutionPlan>;
using PlanFuture = std::shared_future<PlanPtr>;

struct PlanCacheStats {
  std::size_t hits = 0, misses = 0, evictions = 0, builds = 0;
  std::size_t bytes = 0, entries = 0, budget = 0;
};

/// Thread-safe. Plans in use elsewhere stay alive (shared_ptr) after eviction; the budget bounds what the
/// cache itself keeps. A plan bigger than the whole budget is built and returned but not kept.
class PlanCache {
 public:
  using Builder = std::function<PlanPtr()>;
  explicit PlanCache(std::size_t budget_bytes);
  ~PlanCache();
  PlanCache(const PlanCache&) = delete;
  PlanCache& operator=(const PlanCache&) = delete;

  /// The cached plan, or nullptr. Marks it most recently used.
  PlanPtr find(const std::string& key);
  /// Build on the calling thread unless cached (or already being built: then wait for that build).
  PlanPtr get(const std::string& key, const Builder& build);
  /// Return at once: a ready future when cached, else one the background worker fulfils (ahead of any
  /// prefetching).
  PlanFuture prepare(const std::string& key, Builder build);
  /// Build these in the background, in order, while they fit the budget without evicting anything; the
  /// first that does not fit is dropped and ends the prefetch.
  void prefetch(std::vector<std::pair<std::string, Builder>> jobs);

  void setBudget(std::size_t bytes);
  PlanCacheStats stats() const;

 private:
  // The cached plan marked most recently used (and counted as a hit), or nullptr. Needs mutex_.
  PlanPtr hitLocked(const std::string& key);
  // false (and nothing inserted) when `only_if_room` and the plan does not fit without evicting
  bool insertLocked(const std::string& key, const PlanPtr& plan, bool only_if_room = false);
  void evictLocked();
  void workerLoop();

  mutable std::mutex mutex_;
  std::size_t budget_;
  std::size_t bytes_ = 0;
  std::list<std::pair<std::string, PlanPtr>> lru_;  // front = most recent
  std::map<std::string, decltype(lru_)::iterator> index_;
  std::map<std::string, PlanFuture> building_;
  PlanCacheStats counters_;

  struct Job {
    std::string key;
    Builder build;
    std::shared_ptr<std::promise<PlanPtr>> promise;  // null for prefetch jobs
  };
  std::deque<Job> queue_;  // explicit requests at the front, prefetches at the back
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread worker_;  // started on first prepare()
};

}  // namespace dyndnn::engine
