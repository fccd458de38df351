// RuntimeManager: decision per frame, feedback, stats and trace (what the frames teach: manager_learning.cpp).

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "runtime/assign_in_place.hpp"
#include "runtime/json_io.hpp"
#include "runtime/manager_impl.hpp"

namespace dyndnn::runtime {

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
  for (const auto& e : profile_.entries) entry_key_.push_back(placementOf(e.hw));
  knob_columns_ = KnobColumns(profile_);
  ctx_.knob_columns = &knob_columns_;
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
    if (per_threads_ && !fresh && budget_ms) {  // a re-try of a stale placement: did it still miss?
      const auto base = static_cast<std::uint64_t>(stale_frames_);
      group_stale_[group_key] = steady_ms <= *budget_ms ? base : std::min(2 * staleAfter(group_key), kMaxStaleFactor * base);
    }
    if (probe) {
      // Met: the estimates were too pessimistic; start them over at what the probe measured. Missed: they stand.
      probe_wait_ = probe_met ? static_cast<std::uint64_t>(stale_frames_) : std::min(2 * probe_wait_, kMaxProbeWait);
      next_probe_frame_ = ctx_.frame + probe_wait_;
      failed_probes_ = probe_met ? 0 : std::min(failed_probes_ + 1, 8);
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
    // Written in place: the trace's oldest slot, or one scratch slot.
    TraceSlot& rec = nextSlot();
    rec.frame = stats_.frames;
    rec.entry = last_.entry;
    rec.latency_ms = latency_ms;
    rec.energy_j = energy_j;
    rec.predicted_ms = last_.predicted_ms;
    rec.predicted_quantile_ms = last_.predicted_quantile_ms;
    std::tie(rec.slowdown, rec.slowdown_var) = slowdownFor(e.hw);
    rec.bias = bias_[index];
    rec.switched = switched;
    rec.met_budget = !budget || latency_ms <= *budget;
    rec.unmet = last_.unmet;
    if (rec.reason != last_.reason) rec.reason = last_.reason;
    ++stats_.frames;
    if (!rec.met_budget) ++stats_.budget_misses;
    if (energy_j >= 0) stats_.energy_j += energy_j;
    stats_.suspended = suspended_;
    stats_entry_ = last_.entry;
    stats_.unmet = last_.unmet;
    stats_.slowdown = rec.slowdown;
    stats_.slowdown_std = std::sqrt(rec.slowdown_var);
    stats_.switch_penalty = ctx_.switch_penalty;
    stats_.jumps_detected = estimator_.jumps();
    if (stats_reason_ != last_.reason) stats_reason_ = last_.reason;
    cb = callback_;
    if (cb) {  // the callback's record, in place (strings and maps keep their storage)
      const ProfileEntry& ce = profile_.entries[static_cast<std::size_t>(rec.entry)];
      record_.frame = rec.frame;
      record_.op = ce.op;
      assignInPlace(record_.hw, ce.hw);
      record_.latency_ms = rec.latency_ms;
      record_.energy_j = rec.energy_j;
      record_.predicted_ms = rec.predicted_ms;
      record_.predicted_quantile_ms = rec.predicted_quantile_ms;
      record_.slowdown = rec.slowdown;
      record_.slowdown_var = rec.slowdown_var;
      record_.bias = rec.bias;
      record_.switched = rec.switched;
      record_.met_budget = rec.met_budget;
      record_.unmet = rec.unmet;
      record_.reason = last_.reasonText();
    }
  }
  // Outside the lock (the callback may read the manager), on the manager's own copy of the record.
  if (cb) (*cb)(record_);
}

RuntimeManager::Impl::TraceSlot& RuntimeManager::Impl::nextSlot() {
  if (!keep_trace_ || max_records_ == 0) return slot_;
  if (trace_.size() < max_records_) return trace_.emplace_back();
  TraceSlot& oldest = trace_[trace_start_];
  trace_start_ = (trace_start_ + 1) % trace_.size();
  return oldest;
}

FrameRecord RuntimeManager::Impl::recordOf(const TraceSlot& slot) const {
  const ProfileEntry& e = profile_.entries[static_cast<std::size_t>(slot.entry)];
  FrameRecord r;
  r.frame = slot.frame;
  r.op = e.op;
  r.hw = e.hw;
  r.latency_ms = slot.latency_ms;
  r.energy_j = slot.energy_j;
  r.predicted_ms = slot.predicted_ms;
  r.predicted_quantile_ms = slot.predicted_quantile_ms;
  r.slowdown = slot.slowdown;
  r.slowdown_var = slot.slowdown_var;
  r.bias = slot.bias;
  r.switched = slot.switched;
  r.met_budget = slot.met_budget;
  r.unmet = slot.unmet;
  r.reason = slot.reason ? *slot.reason : std::string();
  return r;
}

std::vector<FrameRecord> RuntimeManager::Impl::traceLocked() const {
  std::vector<FrameRecord> out;
  out.reserve(trace_.size());
  for (std::size_t i = 0; i < trace_.size(); ++i) out.push_back(recordOf(trace_[(trace_start_ + i) % trace_.size()]));
  return out;
}

ManagerStats RuntimeManager::Impl::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ManagerStats s = stats_;
  s.suspended = suspended_;
  if (stats_entry_ >= 0) {
    const ProfileEntry& e = profile_.entries[static_cast<std::size_t>(stats_entry_)];
    s.current_op = e.op;
    s.current_hw = e.hw;
  }
  if (stats_reason_) s.last_reason = *stats_reason_;
  return s;
}

void RuntimeManager::Impl::onFrame(std::function<void(const FrameRecord&)> callback) {
  auto shared = callback ? std::make_shared<const std::function<void(const FrameRecord&)>>(std::move(callback)) : nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  callback_ = std::move(shared);
}

void RuntimeManager::Impl::keepTrace(bool on, std::size_t max_records) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TraceSlot> kept;  // oldest first
  if (on)
    for (std::size_t i = 0; i < trace_.size(); ++i) kept.push_back(trace_[(trace_start_ + i) % trace_.size()]);
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
void RuntimeManager::observeCpuLoad(const std::vector<double>& others) { impl_->observeCpuLoad(others); }
void RuntimeManager::restrict(const HardwareState& granted) { impl_->restrict(granted); }
Decision RuntimeManager::evaluate(const HardwareState& granted) const { return impl_->evaluate(granted); }
const Profile& RuntimeManager::profile() const { return impl_->profile_; }  // immutable after construction
ManagerStats RuntimeManager::stats() const { return impl_->stats(); }
void RuntimeManager::onFrame(std::function<void(const FrameRecord&)> callback) { impl_->onFrame(std::move(callback)); }
void RuntimeManager::keepTrace(bool on, std::size_t max_records) { impl_->keepTrace(on, max_records); }
std::vector<FrameRecord> RuntimeManager::trace() const { return impl_->trace(); }
void RuntimeManager::writeTrace(const std::string& path) const { impl_->writeTrace(path); }

}  // namespace dyndnn::runtime
