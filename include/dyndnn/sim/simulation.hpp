#pragma once
/// \file simulation.hpp
/// Running policies on the simulated platforms (dyndnn/sim/platform.hpp): profiles derived from a measured
/// per-operating-point latency scaled by the platform model, a frame-by-frame simulation at 1 ms resolution
/// with the Linux cpufreq governors emulated tick by tick (PELT util for schedutil, windowed load for
/// ondemand), and several workloads sharing one device. Everything produced here is SIMULATED: a model, not a
/// measurement.
///
/// Thread safety: none; each simulation is single-threaded and owns its platform.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/sim/platform.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn::runtime::sim {

/// An operating point as the simulator sees it.
struct SimOp {
  std::string name;
  double macs = 0;
  double accuracy = 0;
  double ms_at_max_1thread = 0;     ///< latency on one core of the domain at its highest frequency
  double parallel_fraction = 0.85;  ///< Amdahl: speedup(n) = 1 / ((1 - p) + p / n)
  double memory_bound_fraction = 0.2;
};

/// Where a workload may run on the platform: a domain and the thread counts (cores) it may use.
struct Placement {
  std::string domain;            ///< "cpu" (Xavier NX), "a15" / "a7" (Odroid XU3)
  std::vector<int> threads;      ///< thread counts offered (each <= the domain's cores)
  double speed = 1.0;            ///< throughput of one core at the domain's top frequency relative to the core
                                 ///< SimOp::ms_at_max_1thread refers to (e.g. Cortex-A7 vs A15: ~0.3)
};

/// The hardware-state knobs the simulated entries use: "simulated.<domain>.freq", "threads", and "cluster"
/// (index of the domain in the platform profile: the exclusive resource the arbiter hands out).
std::string freqKnob(const std::string& domain);

/// Profile of `ops` x every frequency of each placement's domain x its thread counts, from the platform model
/// (latency t(f, n), busy power, idle power). `spread` is the relative latency std recorded in each entry.
Profile simulatedProfile(const hw::PlatformProfile& platform, const std::vector<SimOp>& ops,
                         const std::vector<Placement>& placements, double spread = 0.03);

/// How the frequency of the workload's domain is driven.
enum class FrequencyDriver {
  Manager,   ///< the policy's decision sets it before each frame (dyndnn, fixed, hill-climb)
  Kernel     ///< a Linux governor emulated every `rate_limit_ms` (schedutil / ondemand / performance / powersave)
};

/// A change during the run, from frame `at_frame` on.
struct Event {
  std::uint64_t at_frame = 0;
  std::optional<double> background_load;  ///< other processes' share of every core
  std::optional<double> budget_ms;        ///< new latency budget (setTarget)
  /// A competing process busy on this many cores of every CPU domain (0: none). Unlike background_load, which
  /// slows every core alike, it takes whole cores: workloads whose threads no longer fit on the free cores share
  /// them (rate x free cores / threads), those that fit are not slowed.
  std::optional<int> competitor_cores;
};

struct Workload {
  std::string name;
  std::vector<SimOp> ops;
  std::shared_ptr<RuntimeManager> manager;  ///< decides op (and hw when FrequencyDriver::Manager)
  double period_ms = 33.3;                  ///< frame arrival period
  FrequencyDriver driver = FrequencyDriver::Manager;
  LinuxGovernorKind kernel_governor = LinuxGovernorKind::Schedutil;
  double rate_limit_ms = 10;                ///< kernel governor update period
  std::map<std::string, double> speed;      ///< per domain, as Placement::speed (absent: 1)
};

struct FrameResult {
  std::uint64_t frame = 0;
  double start_ms = 0, latency_ms = 0, energy_j = 0, budget_ms = 0;
  std::string op;
  HardwareState hw;     ///< as decided (freq: at the start of the frame)
  double mean_freq = 0; ///< time-weighted during the frame
  double accuracy = 0;
  bool met = true;
};

struct RunResult {
  std::string workload, policy;
  std::vector<FrameResult> frames;
  double energy_j = 0;        ///< device energy attributed to this workload's frames (busy + its idle share)
  double mean_latency_ms = 0, hit_rate = 0, mean_accuracy = 0;
  std::uint64_t switches = 0;
};

struct SimulationOptions {
  std::uint64_t frames = 600;
  std::vector<Event> events;
  double tick_ms = 1.0;
  /// Frame-to-frame latency variation: each frame's work is scaled by a normal factor with this relative std
  /// (clipped to +-3 std), drawn from a fixed-seed generator so runs are repeatable.
  double noise = 0.03;
  std::uint32_t seed = 1;
};

/// Runs one or several workloads on one simulated platform (several: they share cores when their manager's
/// entries land on the same domain, time-sliced, and the domain's frequency is whatever was set last (no
/// arbiter) or what `arbiter` granted). Device energy is integrated every tick (busy cores, background load,
/// static power) and split between workloads in proportion to their busy core-time (idle energy equally).
std::vector<RunResult> simulate(hw::SimulatedPlatform& platform, std::vector<Workload>& workloads,
                                const SimulationOptions& options, HardwareArbiter* arbiter = nullptr);

/// Writes results (summaries and per-frame series) as JSON.
std::string toJson(const std::vector<RunResult>& results);

}  // namespace dyndnn::runtime::sim
