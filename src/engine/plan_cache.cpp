#include "engine/plan_cache.hpp"

#include <omp.h>

#include <algorithm>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace dyndnn::engine {

PlanCache::PlanCache(std::size_t budget_bytes) : budget_(budget_bytes) {}

PlanCache::~PlanCache() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

PlanPtr PlanCache::hitLocked(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  ++counters_.hits;
  return it->second->second;
}

PlanPtr PlanCache::find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  return hitLocked(key);
}

PlanPtr PlanCache::get(const std::string& key, const Builder& build) {
  std::shared_ptr<std::promise<PlanPtr>> promise;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (auto plan = hitLocked(key)) return plan;
    if (auto b = building_.find(key); b != building_.end()) {
      auto future = b->second;
      lock.unlock();
      return future.get();  // the worker is on it already
    }
    ++counters_.misses;
    promise = std::make_shared<std::promise<PlanPtr>>();
    building_[key] = promise->get_future().share();
  }
  try {
    auto plan = build();
    std::lock_guard<std::mutex> lock(mutex_);
    ++counters_.builds;
    insertLocked(key, plan);
    building_.erase(key);
    promise->set_value(plan);
    return plan;
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    building_.erase(key);
    promise->set_exception(std::current_exception());
    throw;
  }
}

PlanFuture PlanCache::prepare(const std::string& key, Builder build) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto plan = hitLocked(key)) {
    std::promise<PlanPtr> ready;
    ready.set_value(std::move(plan));
    return ready.get_future().share();
  }
  if (auto b = building_.find(key); b != building_.end()) return b->second;
  ++counters_.misses;
  auto promise = std::make_shared<std::promise<PlanPtr>>();
  auto future = promise->get_future().share();
  building_[key] = future;
  queue_.push_front(Job{key, std::move(build), promise});
  if (!worker_.joinable()) worker_ = std::thread([this] { workerLoop(); });
  wake_.notify_one();
  return future;
}

void PlanCache::prefetch(std::vector<std::pair<std::string, Builder>> jobs) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [key, build] : jobs) queue_.push_back(Job{key, std::move(build), nullptr});
  if (!worker_.joinable()) worker_ = std::thread([this] { workerLoop(); });
  wake_.notify_one();
}

void PlanCache::workerLoop() {
  // Building is background work: at a lower priority it yields the cores to the threads that keep serving
  // infer() with the current plan (Linux applies nice values per thread).
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
  // And on one OpenMP thread: a second team in the process puts libgomp's thread count above the CPU count,
  // whereupon every team's waits spin 100 times instead of ~300000 and then sleep, so the inference team's
  // threads sleep and are woken between its primitives (measured: 12,000 futex waits per second, the shipped
  // model's largest point on 2 threads 1.7-2.3 ms instead of 0.6-1.2 ms).
  omp_set_num_threads(1);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) {
      for (auto& job : queue_)
        if (job.promise) job.promise->set_exception(std::make_exception_ptr(std::runtime_error("plan cache shut down")));
      return;
    }
    auto job = std::move(queue_.front());
    queue_.pop_front();
    const bool prefetching = job.promise == nullptr;
    if (prefetching && (index_.count(job.key) || building_.count(job.key))) continue;  // already there
    lock.unlock();
    PlanPtr plan;
    std::exception_ptr error;
    try {
      plan = job.build();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (prefetching) {
      if (error) continue;  // a prefetch is an optimisation; the explicit request will report the error
      ++counters_.builds;
      if (!insertLocked(job.key, plan, /*only_if_room=*/true)) {  // full: stop prefetching
        queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [](const Job& j) { return !j.promise; }),
                     queue_.end());
      }
      continue;
    }
    building_.erase(job.key);
    if (error) {
      job.promise->set_exception(error);
    } else {
      ++counters_.builds;
      insertLocked(job.key, plan);
      job.promise->set_value(plan);
    }
  }
}

bool PlanCache::insertLocked(const std::string& key, const PlanPtr& plan, bool only_if_room) {
  if (!plan || plan->bytes() > budget_ || index_.count(key)) return false;
  if (only_if_room && bytes_ + plan->bytes() > budget_) return false;
  // a prefetched plan goes in as least recently used: it must not push out plans in use
  auto where = only_if_room ? lru_.end() : lru_.begin();
  index_[key] = lru_.insert(where, {key, plan});
  bytes_ += plan->bytes();
  evictLocked();
  return true;
}

void PlanCache::evictLocked() {
  while (bytes_ > budget_ && !lru_.empty()) {
    auto& victim = lru_.back();
    bytes_ -= victim.second->bytes();
    index_.erase(victim.first);
    lru_.pop_back();
    ++counters_.evictions;
  }
}

void PlanCache::setBudget(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  budget_ = bytes;
  evictLocked();
}

PlanCacheStats PlanCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto s = counters_;
  s.bytes = bytes_;
  s.entries = lru_.size();
  s.budget = budget_;
  return s;
}

}  // namespace dyndnn::engine
