// RuntimeManager: decision per frame, feedback, stats and trace.

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/estimators.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/assign_in_place.hpp"
#include "runtime/json_io.hpp"

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
  // The newest max_records_ frames, a ring whose slots are overwritten in place (a steady frame allocates
  // nothing); trace_start_ is the oldest.
  std::vector<FrameRecord> trace_;
  std::size_t trace_start_ = 0;
  FrameRecord record_;  // the frame being recorded when no trace is kept; the callback's copy otherwise
  std::shared_ptr<const std::function<void(const FrameRecord&)>> callback_;  // copied per frame without allocating
  bool per_threads_ = false;
  int stale_frames_ = 30;
  // Per placement: thread count and CPU set (the affinity knob; 0 when the profile has none), so a competitor
  // on one core slows the placements that share it and leaves the others' estimates alone.
  using GroupKey = std::pair<std::int64_t, std::int64_t>;
  std::map<GroupKey, SlowdownEstimator> group_;
  std::map<GroupKey, std::uint64_t> group_seen_;
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
  void maybeProbe(Decision& d);
  bool learnBias(std::size_t entry, double ratio);  // true while the window is open
  double tailRatioFor(const HardwareState& hw) const;
  std::pair<double, double> slowdownFor(const HardwareState& hw) const;
  bool slowdownFresh(const HardwareState& hw) const;
  GroupKey groupKey(const HardwareState& hw) const;  // the placement when per placement, else (0, 0)
  FrameRecord& nextRecord();
  std::vector<FrameRecord> traceLocked() const;
};

RuntimeManager::Impl::Impl(Profile profile, Target target, std::unique_ptr<Policy> policy)
    : profile_(std::move(profile)), target_(std::move(target)), policy_(std::move(policy)) {
  if (profile_.entries.empty()) throw InvalidArgument("runtime manager: the profile has no entries; run `dyndnn profile`");
  target_.validate();
  if (!policy_) policy_ = makeManagerPolicy();
  ctx_.profile = &profile_;
  ctx_.target = &target_;
  ctx_.slowdown = &estimator_;
  ctx_.tail_ratio_for = [this](const HardwareState& hw) { return tailRatioFor(hw); };
  bias_.assign(profile_.entries.size(), 1.0);  // never resized: the context points at it
  ctx_.entry_bias = &bias_;
  stats_.policy = policy_->name();
  probes_ = stats_.policy == "dyndnn";  // a baseline keeps its own behaviour
  probe_wait_ = static_cast<std::uint64_t>(stale_frames_);
}

void RuntimeManager::Impl::setTarget(const Target& target) {
  target.validate();
  std::lock_guard<std::mutex> lock(mutex_);
  target_ = target;
  suspended_ = false;
  ctx_.frames_since_switch = 1u << 30;  // a new target may switch at once
}

Target RuntimeManager::Impl::target() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return target_;
}

void RuntimeManager::Impl::suspend() {
  std::lock_guard<std::mutex> lock(mutex_);
  suspended_ = true;
}

bool RuntimeManager::Impl::suspended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return suspended_;
}

void RuntimeManager::Impl::restrict(const HardwareState& granted) {
  std::lock_guard<std::mutex> lock(mutex_);
  ctx_.granted = granted;
  ctx_.fixed_knobs.clear();
  for (const auto& [k, v] : granted) ctx_.fixed_knobs.push_back(k);
}

const std::string& Decision::reasonText() const {
  static const std::string none;
  return reason ? *reason : none;
}

Decision RuntimeManager::Impl::before(const KnobFloor* floors, std::size_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  ctx_.floors = floors;
  ctx_.floor_count = count;
  struct Lift {  // the floors hold for this decision only
    PolicyContext& ctx;
    ~Lift() {
      ctx.floors = nullptr;
      ctx.floor_count = 0;
    }
  } lift{ctx_};
  if (suspended_ && last_.entry >= 0) return last_;
  Decision d = suspended_ ? Decision{} : policy_->decide(ctx_);
  if (d.entry < 0) {  // suspended before any decision: nothing to hold
    d = policy_->decide(ctx_);
  } else if (probes_ && !suspended_) {
    maybeProbe(d);
  }
  last_ = d;
  return d;
}

void RuntimeManager::Impl::maybeProbe(Decision& d) {
  probing_ = -1;
  if (ctx_.current < 0 || d.entry != ctx_.current || ctx_.frame < next_probe_frame_) return;
  next_probe_frame_ = ctx_.frame + static_cast<std::uint64_t>(stale_frames_);  // the next check, if none now
  // The same policy, in place (a copy of the context would allocate), with the device as profiled: slowdown 1
  // (with the prior's spread) and a switch that costs nothing extra (a penalty learned high on cold frames would
  // otherwise hold every switch for good). Each entry's own bias still applies, and so do the stalls the tail
  // windows saw: they are how this device behaves now, not an estimate gone stale.
  struct Optimistic {
    PolicyContext& ctx;
    const SlowdownEstimator* slowdown;
    std::function<std::pair<double, double>(const HardwareState&)> slowdown_for;
    double switch_penalty;
    ~Optimistic() {
      ctx.slowdown = slowdown;
      ctx.slowdown_for = std::move(slowdown_for);
      ctx.switch_penalty = switch_penalty;
    }
  } restore{ctx_, ctx_.slowdown, std::move(ctx_.slowdown_for), ctx_.switch_penalty};
  static const SlowdownEstimator prior;
  ctx_.slowdown = &prior;
  ctx_.slowdown_for = nullptr;
  ctx_.switch_penalty = 1;
  const Decision p = policy_->decide(ctx_);
  if (p.entry < 0 || p.entry == d.entry || p.unmet != kUnmetNone) return;
  // Only for accuracy: that is what an estimate stuck too high costs the user. A probe for energy alone (a lower
  // frequency the estimate rules out) risks a miss for a saving the simulations do not show (it cost 2.5 points
  // of saving against schedutil there).
  const auto& entries = profile_.entries;
  if (entries[static_cast<std::size_t>(p.entry)].accuracy <= entries[static_cast<std::size_t>(d.entry)].accuracy) return;
  d = p;
  probing_ = p.entry;
}

void RuntimeManager::Impl::after(double latency_ms, double energy_j, double utilisation) {
  std::shared_ptr<const std::function<void(const FrameRecord&)>> cb;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (last_.entry < 0) throw InvalidArgument("runtime manager: after() without a before()");
    const auto index = static_cast<std::size_t>(last_.entry);
    const ProfileEntry& e = profile_.entries[index];
    const bool switched = ctx_.current != last_.entry;
    const bool probe = probing_ == last_.entry;
    probing_ = -1;
    const auto budget_ms = target_.budgetMs();
    const bool probe_met = probe && (!budget_ms || latency_ms <= *budget_ms);
    // The first frame on a new entry runs cold (measured 1.2-1.9x a steady frame on this machine): learn that
    // cost on its own, and let the slowdown estimators see the frame without it, or every switch would read
    // as the device slowing down and bring on the next one.
    const bool fresh = slowdownFresh(e.hw);
    const double level = slowdownFor(e.hw).first;  // the device's slowdown this frame is measured against
    const double expected_ms = level * bias_[index] * e.latency_ms;  // what this entry was predicted to take
    double steady_ms = latency_ms;
    if (switched && ctx_.current >= 0 && latency_ms > 0 && e.latency_ms > 0) {
      if (fresh && probe_met == probe) {  // a probe that missed measured the device, not the switch
        const double cold = std::clamp(latency_ms / expected_ms, 1.0, 4.0);
        ctx_.switch_penalty = 0.8 * ctx_.switch_penalty + 0.2 * cold;
      }
      steady_ms = latency_ms / ctx_.switch_penalty;
    }
    // A switch opens the new entry's bias window when the device's slowdown is settled: its thread count's
    // estimate is fresh, and the entry left had run steadily (no level change for a while, as the previous entry's
    // own frames saw it). A switch forced by a change still being learned would put the change into the bias.
    if (switched)
      bias_learned_ = !probe && fresh && ctx_.current >= 0 && ctx_.frames_since_switch >= kSettledFrames &&
                              frames_since_jump_ >= kSettledFrames
                          ? 0
                          : kBiasFrames;
    const bool learning = e.latency_ms > 0 && steady_ms > 0 && level > 0 &&
                          learnBias(index, steady_ms / (level * e.latency_ms));
    const double device_ms = steady_ms / bias_[index];  // the frame as the device's slowdown alone explains it
    const GroupKey group_key = groupKey(e.hw);
    TailWindow& tail = tail_[group_key];
    // A probe of a stale thread count starts its window over; the probe itself was measured against a guess.
    if (!fresh || probe_met) tail.clear();
    else if (!learning && !probe && e.latency_ms > 0 && steady_ms > 0 && level > 0)
      tail.push(device_ms / (level * e.latency_ms), target_.confidence);
    auto jumps = [&] { return estimator_.jumps() + (per_threads_ ? group_[group_key].jumps() : 0); };
    const std::size_t jumps_before = jumps();
    if (switched && ctx_.current >= 0) ++stats_.switches;
    ctx_.frames_since_switch = switched ? 1 : ctx_.frames_since_switch + 1;
    if (switched && !probe) next_probe_frame_ = std::max(next_probe_frame_, ctx_.frame + probe_wait_);
    ctx_.current = last_.entry;
    ++ctx_.frame;
    ctx_.utilisation = utilisation;
    ctx_.recent_latency_ms.push(latency_ms);
    if (probe) {
      // Met: the estimates were too pessimistic; start them over at what the probe measured. Missed: they stand.
      probe_wait_ = probe_met ? static_cast<std::uint64_t>(stale_frames_) : std::min(2 * probe_wait_, kMaxProbeWait);
      next_probe_frame_ = ctx_.frame + probe_wait_;
      if (probe_met) {
        estimator_.restartAt(device_ms, e.latency_ms, e.latency_std_ms);
        if (per_threads_) group_[group_key].restartAt(device_ms, e.latency_ms, e.latency_std_ms);
      }
      if (per_threads_ && (probe_met || !fresh)) group_seen_[group_key] = ctx_.frame;
      ++stats_.probes;
    } else {
      if (!learning) estimator_.observe(device_ms, e.latency_ms, e.latency_std_ms);
      if (per_threads_) {
        if (!fresh) group_[group_key].restartAt(device_ms, e.latency_ms, e.latency_std_ms);  // a probe: trust it
        else if (!learning) group_[group_key].observe(device_ms, e.latency_ms, e.latency_std_ms);
        group_seen_[group_key] = ctx_.frame;
      }
    }
    // A level change: the frames before it say nothing about the spread around the new level.
    if (jumps() != jumps_before) {
      tail.clear();
      frames_since_jump_ = 0;
    } else {
      ++frames_since_jump_;
    }
    const auto budget = target_.budgetMs();
    // Written in place (the trace's oldest slot, or one scratch record): strings and maps keep their storage.
    FrameRecord& rec = nextRecord();
    rec.frame = stats_.frames;
    rec.op = e.op;
    assignInPlace(rec.hw, e.hw);
    rec.latency_ms = latency_ms;
    rec.energy_j = energy_j;
    rec.predicted_ms = last_.predicted_ms;
    rec.predicted_quantile_ms = last_.predicted_quantile_ms;
    std::tie(rec.slowdown, rec.slowdown_var) = slowdownFor(e.hw);
    rec.bias = bias_[index];
    rec.switched = switched;
    rec.met_budget = !budget || latency_ms <= *budget;
    rec.unmet = last_.unmet;
    rec.reason = last_.reasonText();
    ++stats_.frames;
    if (!rec.met_budget) ++stats_.budget_misses;
    if (energy_j >= 0) stats_.energy_j += energy_j;
    stats_.suspended = suspended_;
    stats_.current_op = e.op;
    assignInPlace(stats_.current_hw, e.hw);
    stats_.unmet = last_.unmet;
    stats_.slowdown = rec.slowdown;
    stats_.slowdown_std = std::sqrt(rec.slowdown_var);
    stats_.switch_penalty = ctx_.switch_penalty;
    stats_.jumps_detected = estimator_.jumps();
    stats_.last_reason = last_.reasonText();
    cb = callback_;
    if (cb && &rec != &record_) record_ = rec;  // in place; trace() or keepTrace() may move the trace's slots
  }
  // Outside the lock (the callback may read the manager), on the manager's own copy of the record.
  if (cb) (*cb)(record_);
}

FrameRecord& RuntimeManager::Impl::nextRecord() {
  if (!keep_trace_ || max_records_ == 0) return record_;
  if (trace_.size() < max_records_) return trace_.emplace_back();
  FrameRecord& oldest = trace_[trace_start_];
  trace_start_ = (trace_start_ + 1) % trace_.size();
  return oldest;
}

std::vector<FrameRecord> RuntimeManager::Impl::traceLocked() const {
  std::vector<FrameRecord> out;
  out.reserve(trace_.size());
  for (std::size_t i = 0; i < trace_.size(); ++i) out.push_back(trace_[(trace_start_ + i) % trace_.size()]);
  return out;
}

ManagerStats RuntimeManager::Impl::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ManagerStats s = stats_;
  s.suspended = suspended_;
  return s;
}

void RuntimeManager::Impl::onFrame(std::function<void(const FrameRecord&)> callback) {
  auto shared = callback ? std::make_shared<const std::function<void(const FrameRecord&)>>(std::move(callback)) : nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  callback_ = std::move(shared);
}

void RuntimeManager::Impl::keepTrace(bool on, std::size_t max_records) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto kept = traceLocked();  // oldest first
  if (!on) kept.clear();
  if (kept.size() > max_records) kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(max_records));
  keep_trace_ = on;
  max_records_ = max_records;
  trace_ = std::move(kept);
  trace_start_ = 0;
}

std::vector<FrameRecord> RuntimeManager::Impl::trace() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return traceLocked();
}

void RuntimeManager::Impl::writeTrace(const std::string& path) const {
  nlohmann::json j;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    j["format"] = "dyndnn-trace";
    j["target"] = target_.describe();
    j["policy"] = stats_.policy;
    j["profile_device"] = profile_.device;
    j["simulated"] = profile_.simulated;
    auto& frames = j["frames"] = nlohmann::json::array();
    for (const auto& r : traceLocked())
      frames.push_back({{"frame", r.frame}, {"op", r.op}, {"hw", r.hw}, {"latency_ms", r.latency_ms},
                        {"energy_j", r.energy_j}, {"predicted_ms", r.predicted_ms},
                        {"predicted_quantile_ms", r.predicted_quantile_ms}, {"slowdown", r.slowdown},
                        {"slowdown_var", r.slowdown_var}, {"bias", r.bias}, {"switched", r.switched}, {"met_budget", r.met_budget},
                        {"unmet", unmetToString(r.unmet)}, {"reason", r.reason}});
    j["stats"] = {{"frames", stats_.frames}, {"switches", stats_.switches}, {"budget_misses", stats_.budget_misses},
                  {"jumps_detected", stats_.jumps_detected}, {"energy_j", stats_.energy_j}};
  }
  writeFileAtomically(path, j.dump(1));
}

}  // namespace dyndnn::runtime

namespace dyndnn::runtime {

void RuntimeManager::Impl::setSlowdownPerThreads(bool on, int stale_frames) {
  if (stale_frames < 1) throw InvalidArgument("setSlowdownPerThreads: stale_frames must be >= 1");
  std::lock_guard<std::mutex> lock(mutex_);
  per_threads_ = on;
  stale_frames_ = stale_frames;
  probe_wait_ = static_cast<std::uint64_t>(stale_frames);
  group_.clear();
  group_seen_.clear();
  tail_.clear();
  if (on) ctx_.slowdown_for = [this](const HardwareState& hw) { return slowdownFor(hw); };
  else ctx_.slowdown_for = nullptr;
}

std::pair<double, double> RuntimeManager::Impl::slowdownFor(const HardwareState& hw) const {
  if (!per_threads_) return {estimator_.mean(), estimator_.variance()};
  auto g = group_.find(groupKey(hw));
  if (g != group_.end() && slowdownFresh(hw)) return {g->second.mean(), g->second.variance()};
  // Stale or never seen: the smaller of its own last estimate (prior 1) and the thread count in use now.
  const double own = g != group_.end() ? g->second.mean() : 1.0;
  const double own_var = g != group_.end() ? g->second.variance() : SlowdownEstimator{}.variance();
  std::pair<double, double> now{estimator_.mean(), estimator_.variance()};
  if (ctx_.current >= 0) {
    const auto& cur = profile_.entries[static_cast<std::size_t>(ctx_.current)].hw;
    if (auto c = group_.find(groupKey(cur)); c != group_.end()) now = {c->second.mean(), c->second.variance()};
  }
  return own <= now.first ? std::pair<double, double>{own, own_var} : now;
}

// The estimate for `hw` rests on recent frames of its own (with one estimator for all: on any frame at all).
bool RuntimeManager::Impl::slowdownFresh(const HardwareState& hw) const {
  if (!per_threads_) return estimator_.observations() > 0;
  auto seen = group_seen_.find(groupKey(hw));
  return seen != group_seen_.end() && ctx_.frame - seen->second <= static_cast<std::uint64_t>(stale_frames_);
}

RuntimeManager::Impl::GroupKey RuntimeManager::Impl::groupKey(const HardwareState& hw) const {
  if (!per_threads_) return {0, 0};
  const auto affinity = hw.find(hw::knobs::kAffinity);
  return {hw::threadsOf(hw), affinity == hw.end() ? 0 : affinity->second};
}

bool RuntimeManager::Impl::learnBias(std::size_t entry, double ratio) {
  if (bias_learned_ >= kBiasFrames) return false;
  bias_ratios_[static_cast<std::size_t>(bias_learned_++)] = std::clamp(ratio, 0.25, 4.0);
  // From the second frame on the entry predicts with what its frames say: the smaller of two (a core shared with
  // a busy process stalls one frame in several, rarely two in a row), then the median of three.
  if (bias_learned_ == 2) bias_[entry] = std::min(bias_ratios_[0], bias_ratios_[1]);
  if (bias_learned_ == 3)
    bias_[entry] = std::max(std::min(bias_ratios_[0], bias_ratios_[1]),
                            std::min(std::max(bias_ratios_[0], bias_ratios_[1]), bias_ratios_[2]));
  // Within the frame-to-frame noise the profile stands: a factor learned from noise only moves predictions about.
  if (bias_learned_ >= 2 && std::abs(bias_[entry] - 1.0) < kBiasDeadZone) bias_[entry] = 1.0;
  return true;
}

void RuntimeManager::Impl::TailWindow::push(double ratio, double confidence) {
  ratios.push(ratio);
  const std::size_t n = ratios.size();
  constexpr std::size_t kMinFrames = 10;  // fewer say nothing about a tail
  if (n < kMinFrames) {
    quantile = 0;
    return;
  }
  std::array<double, kTailFrames> sorted;  // a copy on the stack: nth_element reorders
  for (std::size_t i = 0; i < n; ++i) sorted[i] = ratios[i];
  const auto k = static_cast<std::ptrdiff_t>(std::ceil(confidence * static_cast<double>(n))) - 1;
  std::nth_element(sorted.begin(), sorted.begin() + k, sorted.begin() + static_cast<std::ptrdiff_t>(n));
  quantile = sorted[static_cast<std::size_t>(k)];
}

double RuntimeManager::Impl::tailRatioFor(const HardwareState& hw) const {
  if (!slowdownFresh(hw)) return 0;
  auto t = tail_.find(groupKey(hw));
  return t == tail_.end() ? 0 : t->second.quantile;
}

Decision RuntimeManager::Impl::evaluate(const HardwareState& granted) const {
  std::lock_guard<std::mutex> lock(mutex_);
  PolicyContext ctx = ctx_;
  ctx.current = -1;
  ctx.granted = granted;
  ctx.fixed_knobs.clear();
  for (const auto& [k, v] : granted) ctx.fixed_knobs.push_back(k);
  return makeManagerPolicy()->decide(ctx);
}

// The public class forwards.
RuntimeManager::RuntimeManager(Profile profile, Target target, std::unique_ptr<Policy> policy)
    : impl_(std::make_unique<Impl>(std::move(profile), std::move(target), std::move(policy))) {}
RuntimeManager::~RuntimeManager() = default;
void RuntimeManager::setTarget(const Target& target) { impl_->setTarget(target); }
Target RuntimeManager::target() const { return impl_->target(); }
void RuntimeManager::suspend() { impl_->suspend(); }
bool RuntimeManager::suspended() const { return impl_->suspended(); }
Decision RuntimeManager::before() { return impl_->before(nullptr, 0); }
Decision RuntimeManager::before(const KnobFloor* floors, std::size_t count) { return impl_->before(floors, count); }
void RuntimeManager::after(double latency_ms, double energy_j, double utilisation) {
  impl_->after(latency_ms, energy_j, utilisation);
}
void RuntimeManager::setSlowdownPerThreads(bool on, int stale_frames) { impl_->setSlowdownPerThreads(on, stale_frames); }
void RuntimeManager::restrict(const HardwareState& granted) { impl_->restrict(granted); }
Decision RuntimeManager::evaluate(const HardwareState& granted) const { return impl_->evaluate(granted); }
const Profile& RuntimeManager::profile() const { return impl_->profile_; }  // immutable after construction
ManagerStats RuntimeManager::stats() const { return impl_->stats(); }
void RuntimeManager::onFrame(std::function<void(const FrameRecord&)> callback) { impl_->onFrame(std::move(callback)); }
void RuntimeManager::keepTrace(bool on, std::size_t max_records) { impl_->keepTrace(on, max_records); }
std::vector<FrameRecord> RuntimeManager::trace() const { return impl_->trace(); }
void RuntimeManager::writeTrace(const std::string& path) const { impl_->writeTrace(path); }

}  // namespace dyndnn::runtime
