// Core affinity and thread count. The process-local counterpart of DVFS: nothing outside the process changes,
// so restore means putting the calling thread's original mask and the original team size back.

#include "affinity_governor.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {
namespace {

std::int64_t ownMask() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    throw HardwareError(fmt::format("sched_getaffinity failed: {}", std::strerror(errno)));
  std::int64_t mask = 0;
  for (int c = 0; c < 63; ++c)
    if (CPU_ISSET(c, &set)) mask |= std::int64_t{1} << c;
  return mask;
}

}  // namespace

AffinityGovernor::AffinityGovernor(const GovernorOptions& options, std::shared_ptr<WorkerTeam> team)
    : team_(team ? std::move(team) : openMpTeam()) {
  const CpuTopology topo = detectCpuTopology(options.root);
  original_mask_ = ownMask();
  original_threads_ = max_threads_used_ = team_->threads();
  // Only CPUs that are online and that this process may use (taskset/cgroups) are offered.
  const std::int64_t allowed = original_mask_ & (topo.online.empty() ? ~std::int64_t{0} : cpuMask(topo.online));
  allowed_ = allowed;
  if (allowed == 0) throw HardwareError("no online CPU is in this process's affinity mask; check taskset/cgroups");

  Knob affinity{knobs::kAffinity, "cpumask", {}, {}, true,
                fmt::format("big/LITTLE by {}; any non-empty subset of 'all' is accepted too", topo.method)};
  auto add = [&](std::int64_t mask, const std::string& level_name) {
    mask &= allowed;
    if (mask == 0 || std::find(affinity.levels.begin(), affinity.levels.end(), mask) != affinity.levels.end()) return;
    affinity.levels.push_back(mask);
    affinity.level_names.push_back(level_name);
  };
  add(allowed, "all");
  if (!topo.little.empty()) {
    add(cpuMask(topo.big), "big");
    add(cpuMask(topo.little), "little");
  }
  for (int c : cpusOfMask(allowed)) add(std::int64_t{1} << c, fmt::format("cpu{}", c));
  knobs_.push_back(affinity);

  Knob threads{knobs::kThreads, "threads", {}, {}, true, "inference worker threads (OpenMP team of the calling thread)"};
  const int n = static_cast<int>(cpusOfMask(allowed).size());
  for (int i = 1; i <= n; ++i) threads.levels.push_back(i);
  knobs_.push_back(threads);
}

AffinityGovernor::~AffinityGovernor() { restoreQuietly(); }

void AffinityGovernor::bindAll(std::int64_t mask, int threads) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpusOfMask(mask)) CPU_SET(c, &set);
  std::vector<WorkerBinding> bindings(static_cast<std::size_t>(threads));
  std::mutex m;
  team_->runOnEachWorker([&](int worker) {
    // Each worker binds itself: a thread can always set its own affinity, and we need not know its tid.
    if (sched_setaffinity(0, sizeof set, &set) != 0)
      throw HardwareError(fmt::format("sched_setaffinity to CPUs {} failed on worker {}: {}",
                                      formatCpuList(cpusOfMask(mask)), worker, std::strerror(errno)));
    WorkerBinding b;
    b.worker = worker;
    b.tid = static_cast<long>(::syscall(SYS_gettid));
    b.cpus = cpusOfMask(ownMask());
    std::lock_guard<std::mutex> lock(m);
    if (worker >= 0 && worker < static_cast<int>(bindings.size())) bindings[static_cast<std::size_t>(worker)] = b;
  });
  bindings_ = std::move(bindings);
}

bool AffinityGovernor::accepts(const Knob& knob, std::int64_t value) const {
  // An explicit core list is any non-empty subset of the usable CPUs, not only the named levels.
  if (knob.name == knobs::kAffinity) return value != 0 && (value & ~allowed_) == 0;
  return KnobGovernor::accepts(knob, value);
}

void AffinityGovernor::setKnob(const Knob& knob, std::int64_t value) {
  if (knob.name == knobs::kThreads) {
    team_->setThreads(static_cast<int>(value));
    max_threads_used_ = std::max(max_threads_used_, static_cast<int>(value));
    if (mask_ != 0) bindAll(mask_, static_cast<int>(value));  // new workers must join the binding
    return;
  }
  bindAll(value, team_->threads());
  mask_ = value;
}

std::int64_t AffinityGovernor::readKnob(const Knob& knob) const {
  return knob.name == knobs::kThreads ? team_->threads() : ownMask();
}

void AffinityGovernor::restoreOriginal() {
  if (mask_ == 0 && team_->threads() == original_threads_) return;
  // Unbind every pool thread that may have been bound (the largest team used), then shrink back.
  team_->setThreads(max_threads_used_);
  bindAll(original_mask_, max_threads_used_);
  team_->setThreads(original_threads_);
  mask_ = 0;
}

std::vector<WorkerBinding> AffinityGovernor::lastBinding() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bindings_;
}

std::unique_ptr<Governor> makeAffinityGovernor(const GovernorOptions& options, std::shared_ptr<WorkerTeam> team) {
  return std::make_unique<AffinityGovernor>(options, std::move(team));
}

}  // namespace dyndnn::hw
