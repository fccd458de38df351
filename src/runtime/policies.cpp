// The manager's own policy and the baselines (fixed, Dynamic-OFA hill-climb, Linux cpufreq governors).

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/knob_columns.hpp"

namespace dyndnn::runtime {
namespace {

// One-sided normal quantile for the confidences the targets allow (Acklam's rational approximation).
double normalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (p > 0.97575) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

struct Prediction {
  double mean = 0, quantile = 0, energy = 0, power = 0;
  unsigned unmet = 0;
};

Prediction predict(const PolicyContext& ctx, const ProfileEntry& e) {
  const Target& t = *ctx.target;
  double xi = ctx.slowdown ? ctx.slowdown->mean() : 1.0;
  double var = ctx.slowdown ? ctx.slowdown->variance() : 0.0;
  if (ctx.slowdown_for) std::tie(xi, var) = ctx.slowdown_for(e.hw);
  if (ctx.entry_bias && !ctx.entry_bias->empty()) {  // the entry's own factor scales the slowdown and its spread
    const double b = (*ctx.entry_bias)[static_cast<std::size_t>(&e - ctx.profile->entries.data())];
    xi *= b;
    var *= b * b;
  }
  Prediction p;
  p.mean = xi * e.latency_ms;
  const double sd = std::sqrt(e.latency_ms * e.latency_ms * var + xi * xi * e.latency_std_ms * e.latency_std_ms);
  p.quantile = p.mean + normalQuantile(t.confidence) * sd;
  if (ctx.tail_ratio_for) p.quantile = std::max(p.quantile, ctx.tail_ratio_for(e.hw) * p.mean);
  p.power = e.power_w;
  const auto budget = t.budgetMs();
  // Energy of one frame: busy power over the latency, then idle power for the rest of the frame period when a
  // frame rate fixes that period (the latency budget stands in for it otherwise).
  p.energy = e.power_w * p.mean / 1000.0;
  if (budget && p.mean < *budget) p.energy += e.idle_power_w * (*budget - p.mean) / 1000.0;
  if (budget && p.quantile > *budget) p.unmet |= kUnmetLatency;
  if (t.min_accuracy && e.accuracy < *t.min_accuracy) p.unmet |= kUnmetAccuracy;
  if (t.power_w && e.power_w > *t.power_w) p.unmet |= kUnmetPower;
  return p;
}

std::string stateString(const HardwareState& hw) {
  std::string s;
  for (const auto& [k, v] : hw) s += fmt::format("{}{}={}", s.empty() ? "" : ",", k, v);
  return s;
}

constexpr const char* kBestEffort = "best effort: infeasible target, cannot meet";

class ManagerPolicy final : public Policy {
 public:
  explicit ManagerPolicy(ManagerOptions o) : o_(o) {}
  std::string name() const override { return "dyndnn"; }

  Decision decide(const PolicyContext& ctx) override {
    const auto& entries = ctx.profile->entries;
    const Target& t = *ctx.target;
    auto& cand = cand_;  // scratch kept between frames: a steady frame allocates nothing
    auto& pred = pred_;
    cand.clear();
    pred.resize(entries.size());
    if (!ctx.knob_columns) own_columns_ = KnobColumns(*ctx.profile);
    knobs_.prepare(ctx.knob_columns ? *ctx.knob_columns : own_columns_, ctx);
    // Entries below another running model's floor would run faster than predicted: leave them out, unless
    // that leaves nothing (then any entry is safe, only slower in the profile than it will be).
    for (const bool floors : {true, false}) {
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (!knobs_.allowed(i) || (floors && !knobs_.aboveFloors(i))) continue;
        cand.push_back(static_cast<int>(i));
        pred[i] = predict(ctx, entries[i]);
      }
      if (!cand.empty() || ctx.floor_count == 0) break;
    }
    if (cand.empty()) throw InvalidArgument("runtime manager: no profile entry matches the hardware the arbiter granted");
    // Better(a, b): the objective's order among entries that meet the same constraints.
    auto better = [&](int a, int b) {
      const auto &ea = entries[a], &eb = entries[b];
      if (t.objective == Objective::MostAccuracy && ea.accuracyRank() != eb.accuracyRank())
        return ea.accuracyRank() > eb.accuracyRank();
      if (pred[a].energy != pred[b].energy) return pred[a].energy < pred[b].energy;
      return pred[a].mean < pred[b].mean;
    };
    auto pick = [&](unsigned ignore, auto key_less) {
      int best = -1;
      for (int i : cand)
        if ((pred[i].unmet & ~ignore) == 0 && (best < 0 || key_less(i, best))) best = i;
      return best;
    };
    unsigned relaxed = 0;
    int best = pick(0, better);
    const char* why = nullptr;
    if (best < 0) {  // drop the accuracy floor: most accurate that meets latency and power
      relaxed = kUnmetAccuracy;
      best = pick(relaxed, better);
    }
    if (best < 0) {  // then the budget: fastest under the power cap
      relaxed |= kUnmetLatency;
      best = pick(relaxed, [&](int a, int b) { return pred[a].quantile < pred[b].quantile; });
    }
    if (best < 0) {  // then the power cap: lowest power, fastest among equals
      relaxed |= kUnmetPower;
      best = pick(relaxed, [&](int a, int b) {
        return pred[a].power != pred[b].power ? pred[a].power < pred[b].power : pred[a].quantile < pred[b].quantile;
      });
    }
    int chosen = best;
    if (ctx.current >= 0 && ctx.current != best && static_cast<std::size_t>(ctx.current) < entries.size() &&
        std::find(cand.begin(), cand.end(), ctx.current) != cand.end()) {
      const int cur = ctx.current;
      // In best effort on latency every frame misses; one on an entry clearly slower than the fastest misses by
      // more, so neither the rate limit nor the hysteresis holds it (measured: a paced 2-thread team on this VM
      // ran 20x its profile and was held for the rate limit's 5 frames).
      const bool slower_in_best_effort =
          (relaxed & kUnmetLatency) != 0 && pred[best].quantile < pred[cur].quantile * (1 - o_.energy_margin);
      const bool cur_ok = (pred[cur].unmet & ~relaxed) == 0 && !slower_in_best_effort;
      const bool rate_limited = ctx.frames_since_switch < static_cast<std::uint64_t>(o_.min_switch_frames);
      const double acc_gain = entries[best].accuracyRank() - entries[cur].accuracyRank();
      const double energy_gain = pred[cur].energy > 0 ? (pred[cur].energy - pred[best].energy) / pred[cur].energy : 0;
      const bool worth = acc_gain > o_.accuracy_margin ||
                         (std::abs(acc_gain) <= o_.accuracy_margin && energy_gain > o_.energy_margin) ||
                         (t.objective == Objective::LeastEnergy && energy_gain > o_.energy_margin) ||
                         (relaxed != 0 && pred[best].quantile < pred[cur].quantile * (1 - o_.energy_margin));
      const auto budget = t.budgetMs();
      const bool switch_misses = relaxed == 0 && budget && pred[best].mean * ctx.switch_penalty > *budget;
      if (cur_ok && (rate_limited || !worth || switch_misses)) {
        chosen = cur;
        why = rate_limited ? "hold (switch-rate limit)"
              : !worth     ? "hold (hysteresis: best is not better by the margin)"
                           : "hold (the first frame after a switch would miss the budget)";
      }
    }
    Decision d;
    d.entry = chosen;
    d.unmet = pred[chosen].unmet;
    d.predicted_ms = pred[chosen].mean;
    d.predicted_quantile_ms = pred[chosen].quantile;
    d.predicted_energy_j = pred[chosen].energy;
    if (!why)
      why = d.unmet ? kBestEffort
                    : (t.objective == Objective::MostAccuracy ? "most accurate feasible, then least energy"
                                                              : "least energy feasible");
    // The text (with the prediction at the time) is formatted when the decision or its grounds change, and
    // shared by the frames that repeat it.
    if (!reason_ || chosen != reason_entry_ || why != reason_why_ || d.unmet != reason_unmet_) {
      const bool unmet_named = why == kBestEffort;
      reason_ = std::make_shared<const std::string>(fmt::format(
          "{}{}{}: {} on {} {} p{:.0f}={:.2f}ms xi={:.3f}", why, unmet_named ? " " : "",
          unmet_named ? unmetToString(d.unmet) : "", entries[chosen].op, stateString(entries[chosen].hw),
          entries[chosen].accuracy > 0 ? fmt::format("acc={:.2f}", entries[chosen].accuracy)
                                       : fmt::format("acc=unknown MMACs={:.0f}", entries[chosen].macs / 1e6),
          t.confidence * 100, d.predicted_quantile_ms, ctx.slowdown ? ctx.slowdown->mean() : 1.0));
      reason_entry_ = chosen;
      reason_why_ = why;
      reason_unmet_ = d.unmet;
    }
    d.reason = reason_;
    return d;
  }

 private:
  ManagerOptions o_;
  std::vector<int> cand_;
  std::vector<Prediction> pred_;
  KnobFilter knobs_;
  KnobColumns own_columns_;  // for a context without the manager's table
  std::shared_ptr<const std::string> reason_;
  int reason_entry_ = -1;
  const char* reason_why_ = nullptr;
  unsigned reason_unmet_ = 0;
};

Decision describe(const PolicyContext& ctx, int entry, std::string reason) {
  if (entry < 0)
    throw InvalidArgument("runtime policy: its operating point / hardware state is not in the profile; profile it");
  Decision d;
  d.entry = entry;
  const auto p = predict(ctx, ctx.profile->entries[static_cast<std::size_t>(entry)]);
  d.unmet = p.unmet;
  d.predicted_ms = p.mean;
  d.predicted_quantile_ms = p.quantile;
  d.predicted_energy_j = p.energy;
  d.reason = std::make_shared<const std::string>(std::move(reason));
  return d;
}

class FixedPolicy final : public Policy {
 public:
  FixedPolicy(std::string op, HardwareState hw) : op_(std::move(op)), hw_(std::move(hw)) {}
  std::string name() const override { return "fixed:" + op_; }
  Decision decide(const PolicyContext& ctx) override {
    const int i = ctx.profile->find(op_, hw_);
    if (i < 0)
      throw InvalidArgument(fmt::format("fixed policy: operating point '{}' on {} is not in the profile (it has: {}); "
                                        "profile it or pick another", op_, stateString(hw_),
                                        fmt::join(ctx.profile->operatingPoints(), ", ")));
    return describe(ctx, i, "fixed operating point");
  }

 private:
  std::string op_;
  HardwareState hw_;
};

class HillClimbPolicy final : public Policy {
 public:
  HillClimbPolicy(HardwareState hw, int window) : hw_(std::move(hw)), window_(std::max(1, window)) {}
  std::string name() const override { return "hill-climb"; }
  Decision decide(const PolicyContext& ctx) override {
    if (levels_.empty()) {
      for (std::size_t i = 0; i < ctx.profile->entries.size(); ++i)
        if (ctx.profile->entries[i].hw == hw_) levels_.push_back(static_cast<int>(i));
      if (levels_.empty()) throw InvalidArgument("hill-climb: no profile entry on the given hardware state");
      std::stable_sort(levels_.begin(), levels_.end(), [&](int a, int b) {
        return ctx.profile->entries[a].accuracyRank() < ctx.profile->entries[b].accuracyRank();
      });
      level_ = static_cast<int>(levels_.size()) - 1;  // starts at the top level, as Dynamic-OFA does
      lock_ = 0;
    }
    const auto budget = ctx.target->budgetMs();
    const double floor = ctx.target->min_accuracy.value_or(101.0);
    std::string why = "hold";
    if (lock_ > 0) {
      --lock_;
      why = "locked after a step";
    } else if (budget && static_cast<int>(ctx.recent_latency_ms.size()) >= window_) {
      const double mean = ctx.recent_latency_ms.meanOfLast(static_cast<std::size_t>(window_));
      const double acc = ctx.profile->entries[levels_[level_]].accuracy;
      if (mean > *budget && level_ > 0) {
        --level_;
        lock_ = window_;
        why = fmt::format("mean of last {} = {:.2f} ms > budget: one level down", window_, mean);
      } else if (mean <= *budget && acc < floor && level_ + 1 < static_cast<int>(levels_.size())) {
        ++level_;
        lock_ = window_;
        why = fmt::format("mean of last {} = {:.2f} ms within budget, accuracy below floor: one level up", window_, mean);
      }
    }
    return describe(ctx, levels_[level_], why);
  }

 private:
  HardwareState hw_;
  int window_;
  std::vector<int> levels_;
  int level_ = 0, lock_ = 0;
};

class LinuxGovernorPolicy final : public Policy {
 public:
  LinuxGovernorPolicy(LinuxGovernorKind kind, std::string op, HardwareState hw, std::string knob)
      : kind_(kind), op_(std::move(op)), hw_(std::move(hw)), knob_(std::move(knob)) {}
  std::string name() const override { return toString(kind_); }
  Decision decide(const PolicyContext& ctx) override {
    if (levels_.empty()) {
      for (const auto& e : ctx.profile->entries) {
        if (e.op != op_) continue;
        HardwareState rest = e.hw;
        auto f = rest.find(knob_);
        if (f == rest.end()) continue;
        const auto level = f->second;
        rest.erase(f);
        HardwareState want = hw_;
        want.erase(knob_);
        if (rest == want) levels_.push_back(level);
      }
      std::sort(levels_.begin(), levels_.end());
      levels_.erase(std::unique(levels_.begin(), levels_.end()), levels_.end());
      if (levels_.empty()) throw InvalidArgument(fmt::format("{} governor: no profile entries of {} with a '{}' knob",
                                                             toString(kind_), op_, knob_));
    }
    const auto f = linuxGovernorFrequency(kind_, levels_, ctx.utilisation);
    HardwareState hw = hw_;
    hw[knob_] = f;
    return describe(ctx, ctx.profile->find(op_, hw), fmt::format("{} governor: util {:.2f} -> {}", toString(kind_), ctx.utilisation, f));
  }

 private:
  LinuxGovernorKind kind_;
  std::string op_;
  HardwareState hw_;
  std::string knob_;
  std::vector<std::int64_t> levels_;
};

}  // namespace

std::unique_ptr<Policy> makeManagerPolicy(ManagerOptions options) {
  if (options.min_switch_frames < 0 || options.accuracy_margin < 0 || options.energy_margin < 0)
    throw InvalidArgument("manager options: margins and min_switch_frames must be >= 0");
  return std::make_unique<ManagerPolicy>(options);
}
std::unique_ptr<Policy> makeFixedPolicy(std::string op, HardwareState hw) {
  return std::make_unique<FixedPolicy>(std::move(op), std::move(hw));
}
std::unique_ptr<Policy> makeHillClimbPolicy(HardwareState hw, int window) {
  return std::make_unique<HillClimbPolicy>(std::move(hw), window);
}
std::unique_ptr<Policy> makeLinuxGovernorPolicy(LinuxGovernorKind kind, std::string op, HardwareState hw,
                                                std::string freq_knob) {
  return std::make_unique<LinuxGovernorPolicy>(kind, std::move(op), std::move(hw), std::move(freq_knob));
}

std::string toString(LinuxGovernorKind kind) {
  switch (kind) {
    case LinuxGovernorKind::Performance: return "performance";
    case LinuxGovernorKind::Powersave: return "powersave";
    case LinuxGovernorKind::Ondemand: return "ondemand";
    case LinuxGovernorKind::Schedutil: return "schedutil";
  }
  return "?";
}

std::int64_t linuxGovernorFrequency(LinuxGovernorKind kind, const std::vector<std::int64_t>& levels, double util,
                                    double up_threshold) {
  if (levels.empty()) throw InvalidArgument("linux governor: no frequency levels");
  if (!std::is_sorted(levels.begin(), levels.end())) throw InvalidArgument("linux governor: levels must ascend");
  if (!std::isfinite(util)) throw InvalidArgument("linux governor: utilisation is not finite");
  util = std::clamp(util, 0.0, 1.0);
  const double fmin = static_cast<double>(levels.front()), fmax = static_cast<double>(levels.back());
  double target = fmax;
  switch (kind) {
    case LinuxGovernorKind::Performance: return levels.back();
    case LinuxGovernorKind::Powersave: return levels.front();
    case LinuxGovernorKind::Ondemand:
      if (util > up_threshold) return levels.back();
      target = fmin + util * (fmax - fmin);
      break;
    case LinuxGovernorKind::Schedutil: target = 1.25 * fmax * util; break;
  }
  // CPUFREQ_RELATION_L: the lowest level at or above the target.
  for (auto f : levels)
    if (static_cast<double>(f) >= target - 1e-9) return f;
  return levels.back();
}

double peltUpdate(double util, double busy_share, double ms) {
  static const double y = std::pow(0.5, 1.0 / 32.0);
  const double decay = std::pow(y, std::max(0.0, ms));
  return util * decay + std::clamp(busy_share, 0.0, 1.0) * (1 - decay);
}

}  // namespace dyndnn::runtime
