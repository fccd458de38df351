#pragma once
/// \file affinity.hpp
/// Task mapping: which cores run the library's inference workers and how many there are. Workers are bound as
/// ncnn binds them: inside a parallel region each worker thread sets its own affinity, so the threads that
/// later run inference (LibTorch's OpenMP intra-op team reuses them) stay where they were put.
///
/// Thread safety: the governor is thread-safe. OpenMP keeps one team per calling thread, so bind from the
/// thread that calls infer() (a host with several inference threads binds each of them).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dyndnn/hw/governor.hpp"

namespace dyndnn::hw {

/// big/LITTLE detection result.
struct CpuTopology {
  std::vector<int> online;  ///< online CPUs
  std::vector<int> big;     ///< all online CPUs when the cores are uniform
  std::vector<int> little;  ///< empty when the cores are uniform
  std::string method;       ///< "cpu_capacity", "max frequency", "cluster_id", or "uniform"
};

/// Detects big and LITTLE cores from cpuN/cpu_capacity, else each core's cpuinfo_max_freq (ncnn's rule: a core
/// is LITTLE when its maximum is below the midpoint of the smallest and largest maximum), else
/// topology/cluster_id (assuming the lower cluster is LITTLE, as on ARM SoCs).
CpuTopology detectCpuTopology(const std::string& root = "/");
/// Formats CPU numbers as a kernel CPU list ("0-3,6"), as the kernel and `taskset -c` write them.
std::string formatCpuList(const std::vector<int>& cpus);

/// The worker threads whose placement is governed.
class WorkerTeam {
 public:
  virtual ~WorkerTeam() = default;
  virtual int threads() const = 0;
  virtual void setThreads(int n) = 0;
  /// Runs fn(worker_index) once on each worker thread, concurrently (one parallel region); rethrows the first
  /// exception a worker threw.
  virtual void runOnEachWorker(const std::function<void(int)>& fn) = 0;
};

/// The OpenMP team of the calling thread: the same libgomp threads LibTorch's intra-op parallelism uses.
std::shared_ptr<WorkerTeam> openMpTeam();

/// What one worker was bound to.
struct WorkerBinding {
  int worker = 0;
  long tid = 0;           ///< kernel thread id
  std::vector<int> cpus;  ///< as sched_getaffinity reported it after binding
};

/// Knobs "affinity" (a CPU bit mask; level names "all", "big", "little", "cpuN") and "threads" (1..online
/// CPUs). Masks cover CPUs 0..62. restore() puts back the thread count and the calling thread's original mask.
std::unique_ptr<Governor> makeAffinityGovernor(const GovernorOptions& options = {},
                                               std::shared_ptr<WorkerTeam> team = nullptr);

/// The workers the affinity backend in `governor` (itself or a composite's child) bound last; empty if none.
std::vector<WorkerBinding> boundWorkers(const Governor& governor);

/// Bit mask <-> CPU list helpers for the "affinity" knob.
std::int64_t cpuMask(const std::vector<int>& cpus);
std::vector<int> cpusOfMask(std::int64_t mask);

}  // namespace dyndnn::hw
