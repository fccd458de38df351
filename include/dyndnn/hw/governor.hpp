#pragma once
/// \file governor.hpp
/// The hardware knobs dyndnn tunes together with the network (CPU/GPU frequency, cores, threads), behind one
/// pluggable interface. A backend names its knobs and their discrete levels, applies a hardware state,
/// reports the current one and restores what it found.
///
/// Restoring is guaranteed: by the destructor, after an exception (a multi-knob apply that fails half-way
/// rolls back), and, opt-in, on SIGINT/SIGTERM (installSignalRestore). SIGKILL cannot be caught: give
/// GovernorOptions::state_file and let a supervisor run `dyndnn hw --restore STATEFILE` (restoreFromStateFile).
///
/// Thread safety: every Governor method may be called from several threads; apply() calls are serialised.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dyndnn::hw {

/// One knob and the discrete values it accepts.
struct Knob {
  std::string name;                      ///< unique within a governor: "cpufreq.policy0", "devfreq.gpu", "threads"
  std::string unit;                      ///< "kHz", "Hz", "MHz", "cpumask", "threads"
  std::vector<std::int64_t> levels;      ///< values apply() accepts (frequencies ascending)
  std::vector<std::string> level_names;  ///< empty, or one name per level ("all", "big", "little", "cpu1")
  bool writable = true;                  ///< false when this process may not change it (see note)
  std::string note;                      ///< how it is driven, or why it is not writable
};

/// A hardware setting: knob name -> level value. Knobs not named are left as they are.
using HardwareState = std::map<std::string, std::int64_t>;

/// The knob names dyndnn itself gives meaning to; every other knob is named by the governor that offers it
/// ("cpufreq.policy0", "nvml.gpu0.clock", ...). Use these rather than spelling the strings.
namespace knobs {
inline constexpr char kThreads[] = "threads";    ///< the model's own intra-op thread count (no governor needed)
inline constexpr char kAffinity[] = "affinity";  ///< the CPUs inference may run on (a bit mask, AffinityGovernor)
inline constexpr char kCluster[] = "cluster";    ///< a simulated platform's CPU cluster (dyndnn/sim/), by index
}  // namespace knobs

/// The thread count `state` asks for (its knobs::kThreads), or 0 when it names none.
inline int threadsOf(const HardwareState& state) {
  const auto it = state.find(knobs::kThreads);
  return it == state.end() ? 0 : static_cast<int>(it->second);
}

class Governor {
 public:
  Governor() = default;
  Governor(const Governor&) = delete;
  Governor& operator=(const Governor&) = delete;
  virtual ~Governor() = default;

  virtual std::string name() const = 0;
  virtual std::vector<Knob> knobs() const = 0;
  /// Sets the knobs named in `state`, all or nothing: a failure half-way restores what was changed and
  /// throws HardwareError. A knob already at the requested level (as last applied) is skipped without any
  /// system call. An unknown knob is an InvalidArgument; a level the hardware does not offer a HardwareError.
  virtual void apply(const HardwareState& state) = 0;
  /// Each knob's value as the hardware reports it now.
  virtual HardwareState current() const = 0;
  /// The knobs this governor has set since construction or the last restore().
  virtual HardwareState applied() const = 0;
  /// Puts back every file/setting as it was found. Idempotent.
  virtual void restore() = 0;
  /// True for the simulated platform: nothing real was changed and nothing measured.
  virtual bool simulated() const { return false; }
};

struct GovernorOptions {
  /// Directory that stands for "/" (a fake sysfs tree in tests).
  std::string root = "/";
  /// When set, the original value of every file is written here (atomically, before the file is changed)
  /// so `dyndnn hw --restore FILE` can restore after SIGKILL; the file is removed after restore().
  /// Governors made with the same state_file share it.
  std::string state_file;
  /// cpufreq/devfreq: Auto uses the userspace governor where the kernel offers it, else clamps min = max.
  enum class FrequencyMode { Auto, Userspace, Clamp } frequency_mode = FrequencyMode::Auto;
};

/// cpufreq DVFS, one knob per policy ("cpufreq.policyN", kHz); big/LITTLE clusters are separate policies.
/// Throws HardwareError when there is no cpufreq policy under the root.
std::unique_ptr<Governor> makeCpufreqGovernor(const GovernorOptions& options = {});

/// devfreq DVFS of a GPU ("devfreq.gpu", Hz). `device_dir` (relative to the root) defaults to the first
/// known Jetson GPU path that exists (Xavier/Xavier NX, Orin, Nano). Throws HardwareError when none exists.
std::unique_ptr<Governor> makeDevfreqGovernor(const GovernorOptions& options = {}, const std::string& device_dir = "");

/// Several governors as one; knob names must be unique across them. apply() is all-or-nothing across
/// children too.
std::unique_ptr<Governor> makeCompositeGovernor(std::vector<std::unique_ptr<Governor>> children);

/// Every real backend available under options.root (cpufreq, devfreq, affinity/threads) as one composite.
std::unique_ptr<Governor> makeGovernor(const GovernorOptions& options = {});

/// Opt-in: on SIGINT and SIGTERM, restore every file that live governors changed (async-signal-safe:
/// open/write/close of pre-formatted buffers), then run the previously installed handler, or re-raise
/// the signal with the default action so the process still ends as it would have. From then on apply()
/// refuses further changes (HardwareError), also in a host whose own handler lets the process go on, so no
/// thread can undo the restore. Idempotent.
void installSignalRestore();

/// Writes back the originals recorded in a state file (see GovernorOptions::state_file), only to known
/// knob paths, then removes the file. Returns the number of files restored. Throws HardwareError when the
/// file is unreadable or malformed, or a value cannot be written back.
int restoreFromStateFile(const std::string& state_file);

}  // namespace dyndnn::hw
