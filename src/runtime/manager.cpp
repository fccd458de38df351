// RuntimeManager: decision per frame, feedback, stats and trace.

#include <cmath>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/json_io.hpp"

namespace dyndnn::runtime {

namespace {
constexpr std::size_t kRecentFrames = 64;
}

RuntimeManager::RuntimeManager(Profile profile, Target target, std::unique_ptr<Policy> policy)
    : profile_(std::move(profile)), target_(std::move(target)), policy_(std::move(policy)) {
  if (profile_.entries.empty()) throw InvalidArgument("runtime manager: the profile has no entries; run `dyndnn profile`");
  target_.validate();
  if (!policy_) policy_ = makeManagerPolicy();
  ctx_.profile = &profile_;
  ctx_.target = &target_;
  ctx_.slowdown = &estimator_;
  stats_.policy = policy_->name();
}

RuntimeManager::~RuntimeManager() = default;

void RuntimeManager::setTarget(const Target& target) {
  target.validate();
  std::lock_guard<std::mutex> lock(mutex_);
  target_ = target;
  suspended_ = false;
  ctx_.frames_since_switch = 1u << 30;  // a new target may switch at once
}

Target RuntimeManager::target() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return target_;
}

void RuntimeManager::setPolicy(std::unique_ptr<Policy> policy) {
  if (!policy) throw InvalidArgument("runtime manager: setPolicy(nullptr)");
  std::lock_guard<std::mutex> lock(mutex_);
  policy_ = std::move(policy);
  stats_.policy = policy_->name();
}

void RuntimeManager::suspend() {
  std::lock_guard<std::mutex> lock(mutex_);
  suspended_ = true;
}

bool RuntimeManager::suspended() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return suspended_;
}

void RuntimeManager::restrict(const HardwareState& granted) {
  std::lock_guard<std::mutex> lock(mutex_);
  ctx_.granted = granted;
  ctx_.fixed_knobs.clear();
  for (const auto& [k, v] : granted) ctx_.fixed_knobs.push_back(k);
}

Decision RuntimeManager::before() { return before({}); }

Decision RuntimeManager::before(const std::vector<KnobFloor>& floors) {
  std::lock_guard<std::mutex> lock(mutex_);
  ctx_.floors = floors;
  struct Lift {  // the floors hold for this decision only
    PolicyContext& ctx;
    ~Lift() { ctx.floors.clear(); }
  } lift{ctx_};
  if (suspended_ && last_.entry >= 0) return last_;
  Decision d = suspended_ ? Decision{} : policy_->decide(ctx_);
  if (d.entry < 0) {  // suspended before any decision: nothing to hold
    d = policy_->decide(ctx_);
  }
  last_ = d;
  return d;
}

void RuntimeManager::after(double latency_ms, double energy_j, double utilisation) {
  FrameRecord rec;
  std::function<void(const FrameRecord&)> cb;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (last_.entry < 0) throw InvalidArgument("runtime manager: after() without a before()");
    const ProfileEntry& e = profile_.entries[static_cast<std::size_t>(last_.entry)];
    const bool switched = ctx_.current != last_.entry;
    if (switched && ctx_.current >= 0) ++stats_.switches;
    ctx_.frames_since_switch = switched ? 1 : ctx_.frames_since_switch + 1;
    ctx_.current = last_.entry;
    ++ctx_.frame;
    ctx_.utilisation = utilisation;
    ctx_.recent_latency_ms.push_back(latency_ms);
    if (ctx_.recent_latency_ms.size() > kRecentFrames) ctx_.recent_latency_ms.pop_front();
    estimator_.observe(latency_ms, e.latency_ms, e.latency_std_ms);
    if (per_threads_) {
      const std::int64_t key = e.hw.count("threads") ? e.hw.at("threads") : 0;
      auto seen = group_seen_.find(key);
      const bool stale = seen == group_seen_.end() || ctx_.frame - seen->second > static_cast<std::uint64_t>(stale_frames_) + 1;
      if (stale) group_[key].restartAt(latency_ms, e.latency_ms, e.latency_std_ms);  // a probe: trust it
      else group_[key].observe(latency_ms, e.latency_ms, e.latency_std_ms);
      group_seen_[key] = ctx_.frame;
    }
    const auto budget = target_.budgetMs();
    rec.frame = stats_.frames;
    rec.op = e.op;
    rec.hw = e.hw;
    rec.latency_ms = latency_ms;
    rec.energy_j = energy_j;
    rec.predicted_ms = last_.predicted_ms;
    rec.predicted_quantile_ms = last_.predicted_quantile_ms;
    std::tie(rec.slowdown, rec.slowdown_var) = slowdownFor(e.hw);
    rec.switched = switched;
    rec.met_budget = !budget || latency_ms <= *budget;
    rec.unmet = last_.unmet;
    rec.reason = last_.reason;
    ++stats_.frames;
    if (!rec.met_budget) ++stats_.budget_misses;
    if (energy_j >= 0) stats_.energy_j += energy_j;
    stats_.suspended = suspended_;
    stats_.current_op = e.op;
    stats_.current_hw = e.hw;
    stats_.unmet = last_.unmet;
    stats_.slowdown = rec.slowdown;
    stats_.slowdown_std = std::sqrt(rec.slowdown_var);
    stats_.jumps_detected = estimator_.jumps();
    stats_.last_reason = last_.reason;
    if (keep_trace_ && max_records_ > 0) {
      if (trace_.size() >= max_records_) trace_.pop_front();
      trace_.push_back(rec);
    }
    cb = callback_;
  }
  if (cb) cb(rec);
}

ManagerStats RuntimeManager::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ManagerStats s = stats_;
  s.suspended = suspended_;
  return s;
}

void RuntimeManager::onFrame(std::function<void(const FrameRecord&)> callback) {
  std::lock_guard<std::mutex> lock(mutex_);
  callback_ = std::move(callback);
}

void RuntimeManager::keepTrace(bool on, std::size_t max_records) {
  std::lock_guard<std::mutex> lock(mutex_);
  keep_trace_ = on;
  max_records_ = max_records;
  if (!on) trace_.clear();
  while (trace_.size() > max_records_) trace_.pop_front();
}

std::vector<FrameRecord> RuntimeManager::trace() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {trace_.begin(), trace_.end()};
}

void RuntimeManager::writeTrace(const std::string& path) const {
  nlohmann::json j;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    j["format"] = "dyndnn-trace";
    j["target"] = target_.describe();
    j["policy"] = stats_.policy;
    j["profile_device"] = profile_.device;
    j["simulated"] = profile_.simulated;
    auto& frames = j["frames"] = nlohmann::json::array();
    for (const auto& r : trace_)
      frames.push_back({{"frame", r.frame}, {"op", r.op}, {"hw", r.hw}, {"latency_ms", r.latency_ms},
                        {"energy_j", r.energy_j}, {"predicted_ms", r.predicted_ms},
                        {"predicted_quantile_ms", r.predicted_quantile_ms}, {"slowdown", r.slowdown},
                        {"slowdown_var", r.slowdown_var}, {"switched", r.switched}, {"met_budget", r.met_budget},
                        {"unmet", unmetToString(r.unmet)}, {"reason", r.reason}});
    j["stats"] = {{"frames", stats_.frames}, {"switches", stats_.switches}, {"budget_misses", stats_.budget_misses},
                  {"jumps_detected", stats_.jumps_detected}, {"energy_j", stats_.energy_j}};
  }
  writeFileAtomically(path, j.dump(1));
}

}  // namespace dyndnn::runtime

namespace dyndnn::runtime {

void RuntimeManager::setSlowdownPerThreads(bool on, int stale_frames) {
  if (stale_frames < 1) throw InvalidArgument("setSlowdownPerThreads: stale_frames must be >= 1");
  std::lock_guard<std::mutex> lock(mutex_);
  per_threads_ = on;
  stale_frames_ = stale_frames;
  group_.clear();
  group_seen_.clear();
  if (on) ctx_.slowdown_for = [this](const HardwareState& hw) { return slowdownFor(hw); };
  else ctx_.slowdown_for = nullptr;
}

std::pair<double, double> RuntimeManager::slowdownFor(const HardwareState& hw) const {
  if (!per_threads_) return {estimator_.mean(), estimator_.variance()};
  const std::int64_t key = hw.count("threads") ? hw.at("threads") : 0;
  auto g = group_.find(key);
  auto seen = group_seen_.find(key);
  const bool fresh = g != group_.end() && seen != group_seen_.end() &&
                     ctx_.frame - seen->second <= static_cast<std::uint64_t>(stale_frames_);
  if (fresh) return {g->second.mean(), g->second.variance()};
  // Stale or never seen: the smaller of its own last estimate (prior 1) and the thread count in use now.
  const double own = g != group_.end() ? g->second.mean() : 1.0;
  const double own_var = g != group_.end() ? g->second.variance() : SlowdownEstimator{}.variance();
  std::pair<double, double> now{estimator_.mean(), estimator_.variance()};
  if (ctx_.current >= 0) {
    const auto& cur = profile_.entries[static_cast<std::size_t>(ctx_.current)].hw;
    const std::int64_t ck = cur.count("threads") ? cur.at("threads") : 0;
    if (auto c = group_.find(ck); c != group_.end()) now = {c->second.mean(), c->second.variance()};
  }
  return own <= now.first ? std::pair<double, double>{own, own_var} : now;
}

HardwareState RuntimeManager::restriction() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ctx_.granted;
}

Decision RuntimeManager::evaluate(const HardwareState& granted) const {
  std::lock_guard<std::mutex> lock(mutex_);
  PolicyContext ctx = ctx_;
  ctx.current = -1;
  ctx.granted = granted;
  ctx.fixed_knobs.clear();
  for (const auto& [k, v] : granted) ctx.fixed_knobs.push_back(k);
  return makeManagerPolicy()->decide(ctx);
}

}  // namespace dyndnn::runtime
