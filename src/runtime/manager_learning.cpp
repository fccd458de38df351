// RuntimeManager: what the frames teach. Slowdown estimates per placement, tail windows of observed / predicted
// latency, each profile entry's own factor on its profile, and probes of the points the estimates ruled out.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "dyndnn/error.hpp"
#include "runtime/manager_impl.hpp"

namespace dyndnn::runtime {

void RuntimeManager::Impl::maybeProbe(Decision& d) {
  probing_ = -1;
  if (ctx_.current < 0 || d.entry != ctx_.current || ctx_.frame < next_probe_frame_) return;
  next_probe_frame_ = ctx_.frame + static_cast<std::uint64_t>(stale_frames_);  // the next check, if none now
  // The same policy, in place (a copy of the context would allocate), with the device as profiled (slowdown 1)
  // and a switch that costs nothing extra (a penalty learned high on cold frames would otherwise hold every switch
  // for good). After k probes in a row that missed, the device is assumed at now^(1 - 2^-k) instead: the best
  // point at full speed may be out of reach while a step up is not (a competitor still running). Each entry's own
  // bias still applies, and so do the stalls the tail windows saw: they are how this device behaves now.
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
  const double now = std::max(1.0, slowdownFor(profile_.entries[static_cast<std::size_t>(ctx_.current)].hw).first);
  probe_level_.restartAt(std::pow(now, 1.0 - std::pow(0.5, failed_probes_)), 1.0, 0.0);
  ctx_.slowdown = &probe_level_;
  ctx_.slowdown_for = nullptr;
  ctx_.switch_penalty = 1;
  const Decision p = policy_->decide(ctx_);
  if (p.entry < 0 || p.entry == d.entry || p.unmet != kUnmetNone) return;
  // Only for accuracy: that is what an estimate stuck too high costs the user. A probe for energy alone (a lower
  // frequency the estimate rules out) risks a miss for a saving the simulations do not show (it cost 2.5 points
  // of saving against schedutil there).
  const auto& entries = profile_.entries;
  if (entries[static_cast<std::size_t>(p.entry)].accuracyRank() <= entries[static_cast<std::size_t>(d.entry)].accuracyRank()) return;
  d = p;
  d.reason = std::make_shared<const std::string>("probe (ruled out by the estimates; fits at the profiled speed): " +
                                                 p.reasonText());  // a probe frame, not a steady one
  probing_ = p.entry;
}

void RuntimeManager::Impl::setSlowdownPerThreads(bool on, int stale_frames) {
  if (stale_frames < 1) throw InvalidArgument("setSlowdownPerThreads: stale_frames must be >= 1");
  std::lock_guard<std::mutex> lock(mutex_);
  per_threads_ = on;
  stale_frames_ = stale_frames;
  probe_wait_ = static_cast<std::uint64_t>(stale_frames);
  group_.clear();
  group_seen_.clear();
  group_stale_.clear();
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
  const GroupKey key = groupKey(hw);
  auto seen = group_seen_.find(key);
  return seen != group_seen_.end() && ctx_.frame - seen->second <= staleAfter(key);
}

void RuntimeManager::Impl::observeCpuLoad(const std::vector<double>& others) {
  constexpr double kFall = 0.3;  // a busy competitor is ~1, none ~0; tick rounding moves a 100 ms sample by 0.1
  std::lock_guard<std::mutex> lock(mutex_);
  if (cpu_load_peak_.size() != others.size()) {  // the first report (or the CPUs changed): the reference
    cpu_load_peak_ = others;
    return;
  }
  std::uint64_t fell = 0;  // CPUs 0..63 as a mask; a fall on a higher one counts for every placement
  bool fell_high = false;
  for (std::size_t c = 0; c < others.size(); ++c) {
    if (others[c] < cpu_load_peak_[c] - kFall) {
      if (c < 64) fell |= std::uint64_t{1} << c;
      else fell_high = true;
      cpu_load_peak_[c] = others[c];
    } else {
      cpu_load_peak_[c] = std::max(cpu_load_peak_[c], others[c]);
    }
  }
  if (!fell && !fell_high) return;
  const GroupKey current = ctx_.current >= 0 ? groupKey(profile_.entries[static_cast<std::size_t>(ctx_.current)].hw)
                                             : GroupKey{-1, -1};
  for (auto it = group_seen_.begin(); it != group_seen_.end();) {
    const auto mask = static_cast<std::uint64_t>(it->first.second);  // 0: no affinity knob, any CPU
    if (it->first != current && (mask == 0 || fell_high || (mask & fell) != 0)) {
      group_stale_.erase(it->first);
      it = group_seen_.erase(it);
    } else {
      ++it;
    }
  }
  probe_wait_ = static_cast<std::uint64_t>(stale_frames_);
  failed_probes_ = 0;
  next_probe_frame_ = std::min(next_probe_frame_, ctx_.frame);
}

std::uint64_t RuntimeManager::Impl::staleAfter(const GroupKey& key) const {
  auto s = group_stale_.find(key);
  return s != group_stale_.end() ? s->second : static_cast<std::uint64_t>(stale_frames_);
}

RuntimeManager::Impl::GroupKey RuntimeManager::Impl::placementOf(const HardwareState& hw) {
  const auto affinity = hw.find(hw::knobs::kAffinity);
  return {hw::threadsOf(hw), affinity == hw.end() ? 0 : affinity->second};
}

RuntimeManager::Impl::GroupKey RuntimeManager::Impl::groupKey(const HardwareState& hw) const {
  if (!per_threads_) return {0, 0};
  // Nearly every caller passes a profile entry's own state (a decision asks for every entry's): its key was
  // worked out once, because walking each entry's knob map after an inference has flushed the caches cost a
  // managed frame microseconds. The address tells whether `hw` is one of them.
  const auto& entries = profile_.entries;
  if (entries.empty()) return placementOf(hw);
  const auto offset = reinterpret_cast<std::uintptr_t>(&hw) - reinterpret_cast<std::uintptr_t>(&entries.front().hw);
  const std::size_t i = offset / sizeof(ProfileEntry);
  if (offset % sizeof(ProfileEntry) == 0 && i < entries.size() && &entries[i].hw == &hw) return entry_key_[i];
  return placementOf(hw);
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

}  // namespace dyndnn::runtime
