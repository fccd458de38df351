#pragma once
// RuntimeManager's state (the public class holds a pimpl and forwards). Split over two files: manager.cpp (the
// frame: decide, measure, record) and manager_learning.cpp (what the frames teach: slowdowns per placement, tail
// windows, each entry's own factor, probes).

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "dyndnn/estimators.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/knob_columns.hpp"

namespace dyndnn::runtime {

// Everything the manager holds, behind the public class (which forwards): the header shows no state, so it can
// grow (estimators per thread count, tail windows) without changing the ABI or what a user sees.
struct RuntimeManager::Impl {
  Impl(Profile profile, Target target, std::unique_ptr<Policy> policy);
  void setTarget(const Target& target);
  Target target() const;
  void suspend();
  bool suspended() const;
  void restrict(const HardwareState& granted);
  Decision before(const KnobFloor* floors, std::size_t count);
  void after(double latency_ms, double energy_j, double utilisation);
  void setSlowdownPerThreads(bool on, int stale_frames);
  void observeCpuLoad(const std::vector<double>& others);
  Decision evaluate(const HardwareState& granted) const;
  ManagerStats stats() const;
  void onFrame(std::function<void(const FrameRecord&)> callback);
  void keepTrace(bool on, std::size_t max_records);
  std::vector<FrameRecord> trace() const;
  void writeTrace(const std::string& path) const;

  mutable std::mutex mutex_;
  Profile profile_;
  Target target_;
  std::unique_ptr<Policy> policy_;
  SlowdownEstimator estimator_;
  PolicyContext ctx_;
  Decision last_;
  bool suspended_ = false, keep_trace_ = true;
  std::size_t max_records_ = kDefaultTraceFrames;
  ManagerStats stats_;
  // One frame as the trace keeps it: the entry's index stands for its op and hardware state, the decision's
  // shared reason for its text, so recording a frame copies no string and walks no map. By the time a frame
  // writes its slot, that slot (and the strings and map nodes a FrameRecord would own) is cold memory: copying
  // into them cost a managed frame microseconds after the inference had flushed the caches. recordOf() builds
  // the FrameRecord when someone reads the trace.
  struct TraceSlot {
    std::uint64_t frame = 0;
    int entry = 0;
    double latency_ms = 0, energy_j = -1, predicted_ms = 0, predicted_quantile_ms = 0, slowdown = 1,
           slowdown_var = 0, bias = 1;
    bool switched = false, met_budget = true;
    unsigned unmet = 0;
    std::shared_ptr<const std::string> reason;
  };
  FrameRecord recordOf(const TraceSlot& slot) const;
  // The newest max_records_ frames, a ring whose slots are overwritten in place (a steady frame allocates
  // nothing); trace_start_ is the oldest.
  std::vector<TraceSlot> trace_;
  std::size_t trace_start_ = 0;
  TraceSlot slot_;      // the frame being recorded when no trace is kept
  FrameRecord record_;  // the callback's copy of the frame
  // ManagerStats' current_op, current_hw and last_reason, filled in by stats() from these
  int stats_entry_ = -1;
  std::shared_ptr<const std::string> stats_reason_;
  std::shared_ptr<const std::function<void(const FrameRecord&)>> callback_;  // copied per frame without allocating
  bool per_threads_ = false;
  int stale_frames_ = 30;
  // Per placement: thread count and CPU set (the affinity knob; 0 when the profile has none), so a competitor
  // on one core slows the placements that share it and leaves the others' estimates alone.
  using GroupKey = std::pair<std::int64_t, std::int64_t>;
  std::map<GroupKey, SlowdownEstimator> group_;
  std::map<GroupKey, std::uint64_t> group_seen_;
  // Frames after which a placement's estimate is stale and it is tried again: stale_frames_, doubled (up to
  // kMaxStaleFactor times) each time such a re-try missed the budget, so that what still holds (a competitor, a
  // device that serves that placement badly) costs a frame ever more rarely; back to stale_frames_ when one meets it.
  static constexpr std::uint64_t kMaxStaleFactor = 8;
  std::map<GroupKey, std::uint64_t> group_stale_;
  std::uint64_t staleAfter(const GroupKey& key) const;
  std::vector<double> cpu_load_peak_;  // per CPU: the highest load of others since it last fell (observeCpuLoad)
  // Observed / predicted latency of the newest frames per thread count (one window for all when not per thread
  // count), and its quantile at the target's confidence.
  static constexpr std::size_t kTailFrames = 40;
  struct TailWindow {
    LatencyWindow ratios{kTailFrames};
    double quantile = 0;
    void push(double ratio, double confidence);
    void clear() {
      ratios.clear();
      quantile = 0;
    }
  };
  std::map<GroupKey, TailWindow> tail_;
  // Per profile entry: its own factor on its profile latency (PolicyContext::entry_bias), learned on the first
  // kBiasFrames steady frames after a switch to it while the device's slowdown is known (the estimators do not
  // see those frames: they would read the entry's own factor as the device changing).
  static constexpr int kBiasFrames = 3;  // learnBias() takes the median of three
  static constexpr double kBiasDeadZone = 0.1;
  std::vector<double> bias_;
  std::array<double, kBiasFrames> bias_ratios_{};
  int bias_learned_ = kBiasFrames;  // frames learned in the current window (kBiasFrames: no window open)
  static constexpr std::uint64_t kSettledFrames = 8;
  std::uint64_t frames_since_jump_ = 0;
  // Probing (the manager's own policy only): after probe_wait_ frames on one entry, one frame on the entry the
  // policy would choose if the device ran as profiled. The estimates only ever learn from entries that run; one
  // learned on a point that runs slower than its profile (or during contention that has since gone) would keep
  // every better point out of reach. A probe that meets the budget restarts the estimate at what it measured; one
  // that misses doubles the wait (so a lasting slowdown costs a frame ever more rarely) and teaches nothing.
  bool probes_ = false;
  std::uint64_t probe_wait_ = 0;  // set from stale_frames_
  static constexpr std::uint64_t kMaxProbeWait = 1u << 12;
  std::uint64_t next_probe_frame_ = 0;  // no check before this frame (a check runs the policy a second time)
  int probing_ = -1;                    // the entry this frame probes
  int failed_probes_ = 0;               // in a row: each makes the next probe's device speed less optimistic
  SlowdownEstimator probe_level_;       // the slowdown a probe assumes
  void maybeProbe(Decision& d);
  bool learnBias(std::size_t entry, double ratio);  // true while the window is open
  double tailRatioFor(const HardwareState& hw) const;
  std::pair<double, double> slowdownFor(const HardwareState& hw) const;
  bool slowdownFresh(const HardwareState& hw) const;
  GroupKey groupKey(const HardwareState& hw) const;  // the placement when per placement, else (0, 0)
  static GroupKey placementOf(const HardwareState& hw);
  std::vector<GroupKey> entry_key_;  // placementOf() of each profile entry, worked out once
  KnobColumns knob_columns_;         // the profile's knob levels, for the policy's filters (ctx_.knob_columns)
  TraceSlot& nextSlot();
  std::vector<FrameRecord> traceLocked() const;
};

}  // namespace dyndnn::runtime
