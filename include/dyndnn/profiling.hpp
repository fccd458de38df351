#pragma once
/// \file profiling.hpp
/// Measuring a runtime::Profile (latency and power per operating point x hardware state) on this device.
/// `dyndnn profile` and DynamicModel::setTarget() (when no profile was given) use it.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn {

class DynamicModel;

struct ProfilingOptions {
  int warmup = 5;   ///< untimed inferences before each entry's runs (caches, plan build)
  int runs = 30;    ///< timed inferences per entry (>= 2: the spread needs two)
  /// Hardware states to measure. A "threads" knob is the model's own (DynamicModel::setThreads); other knobs
  /// need a governor that has them. Empty: the model's current thread count only.
  std::vector<runtime::HardwareState> states;
  std::vector<std::string> ops;  ///< operating points to measure (all when empty)
  std::string checkpoint_path;   ///< the profile is saved here after every entry (resumable)
  /// One inference on the model (e.g. a real frame); default: a random tensor at the active resolution.
  std::function<void(DynamicModel&)> run_frame;
  /// Called after every inference (progress bars).
  std::function<void()> on_step;
  /// Called after every entry with the entries done, the entries to do in all and the seconds so far.
  std::function<void(std::size_t done, std::size_t total, double seconds)> on_entry;
};

/// Measures every (operating point, state) that `profile` does not have yet, so a loaded partial profile
/// resumes. Latency: mean and standard deviation over `runs` after `warmup`; power: from `sensor` when given.
/// The model's active sub-network and thread count are put back afterwards; the governor is left at the last
/// state measured (its restore() puts back what it found). Throws InvalidArgument for bad options or unknown
/// operating points, HardwareError when a state cannot be applied.
void measureProfile(DynamicModel& model, hw::Governor* governor, hw::PowerSensor* sensor,
                    const ProfilingOptions& options, runtime::Profile& profile);

/// The thread counts worth profiling here: 1 .. min(usable CPUs, max_threads), as {"threads": n} states.
std::vector<runtime::HardwareState> threadCountStates(int max_threads = 4);

}  // namespace dyndnn
