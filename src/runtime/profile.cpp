// Profile JSON and the least-squares latency predictor.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <Eigen/Dense>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/json_io.hpp"

namespace dyndnn::runtime {
using nlohmann::json;

double ProfileEntry::accuracyRank() const {
  // log2: a step of 1 per doubling of the work, the same scale as ManagerOptions::accuracy_margin's points for
  // the ladders of sub-networks that packages hold (1.5-2x apart).
  return accuracy > 0 ? accuracy : std::log2(std::max(macs, 1.0)) - 1000.0;
}

std::string Profile::toJson() const {
  json j;
  j["format"] = "dyndnn-profile";
  j["version"] = 1;
  j["device"] = device;
  j["model"] = model;
  j["simulated"] = simulated;
  json rows = json::array();
  for (const auto& e : entries) {
    rows.push_back({{"op", e.op}, {"hw", e.hw}, {"macs", e.macs}, {"accuracy", e.accuracy},
                    {"latency_ms", e.latency_ms}, {"latency_std_ms", e.latency_std_ms}, {"power_w", e.power_w},
                    {"idle_power_w", e.idle_power_w}, {"predicted", e.predicted}});
  }
  j["entries"] = rows;
  return j.dump(1);
}

Profile Profile::fromJson(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw InvalidArgument(fmt::format("{}: not JSON ({}); write it with `dyndnn profile`", where, e.what()));
  }
  if (!j.is_object() || j.value("format", "") != "dyndnn-profile")
    throw InvalidArgument(fmt::format("{}: \"format\" is not \"dyndnn-profile\"; write it with `dyndnn profile`", where));
  if (j.value("version", 0) != 1)
    throw InvalidArgument(fmt::format("{}: unsupported version {} (this build reads 1)", where, j.value("version", 0)));
  Profile p;
  p.device = j.value("device", "");
  p.model = j.value("model", "");
  p.simulated = j.value("simulated", false);
  if (!j.contains("entries") || !j["entries"].is_array())
    throw InvalidArgument(fmt::format("{}: \"entries\" is missing or not an array", where));
  std::size_t i = 0;
  for (const auto& r : j["entries"]) {
    try {
      ProfileEntry e;
      e.op = r.at("op").get<std::string>();
      e.hw = r.at("hw").get<HardwareState>();
      e.macs = r.value("macs", 0.0);
      e.accuracy = r.value("accuracy", 0.0);
      e.latency_ms = r.at("latency_ms").get<double>();
      e.latency_std_ms = r.value("latency_std_ms", 0.0);
      e.power_w = r.value("power_w", 0.0);
      e.idle_power_w = r.value("idle_power_w", 0.0);
      e.predicted = r.value("predicted", false);
      if (!std::isfinite(e.latency_ms) || e.latency_ms <= 0 || e.latency_std_ms < 0 || e.power_w < 0)
        throw InvalidArgument("latency_ms must be > 0, latency_std_ms and power_w >= 0");
      p.entries.push_back(std::move(e));
    } catch (const std::exception& ex) {
      throw InvalidArgument(fmt::format("{}: entry {}: {}", where, i, ex.what()));
    }
    ++i;
  }
  if (p.entries.empty()) throw InvalidArgument(fmt::format("{}: no entries; profile the model first", where));
  return p;
}

Profile Profile::load(const std::string& path) { return fromJson(readTextFile(path), path); }

void Profile::save(const std::string& path) const { writeFileAtomically(path, toJson()); }

int Profile::find(const std::string& op, const HardwareState& hw) const {
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (entries[i].op == op && entries[i].hw == hw) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> Profile::operatingPoints() const {
  std::vector<std::string> out;
  for (const auto& e : entries)
    if (std::find(out.begin(), out.end(), e.op) == out.end()) out.push_back(e.op);
  return out;
}

std::vector<HardwareState> Profile::hardwareStates() const {
  std::vector<HardwareState> out;
  for (const auto& e : entries)
    if (std::find(out.begin(), out.end(), e.hw) == out.end()) out.push_back(e.hw);
  return out;
}

// ---- predictor ----
namespace {
constexpr int kCoefficients = 4;

std::int64_t threadsOf(const HardwareState& hw) {
  auto it = hw.find(hw::knobs::kThreads);
  return it == hw.end() ? 0 : it->second;
}

// Features: 1, macs (M), macs (M) * fmax / f, fmax / f. Compute-bound work scales with 1/f, memory-bound does
// not; the constant absorbs per-frame overheads.
Eigen::Vector4d features(double macs, double inv_f) {
  const double m = macs / 1e6;
  return {1.0, m, m * inv_f, inv_f};
}
}  // namespace

LatencyPredictor LatencyPredictor::fit(const std::vector<ProfileEntry>& measured, const std::string& freq_knob) {
  LatencyPredictor p;
  p.freq_knob_ = freq_knob;
  double fmax = 0;
  for (const auto& e : measured) {
    if (freq_knob.empty()) break;
    auto it = e.hw.find(freq_knob);
    if (it == e.hw.end())
      throw InvalidArgument(fmt::format("latency predictor: entry {} has no knob '{}'", e.op, freq_knob));
    fmax = std::max(fmax, static_cast<double>(it->second));
  }
  p.freq_scale_ = fmax > 0 ? fmax : 1;
  std::map<std::int64_t, std::vector<const ProfileEntry*>> groups;
  for (const auto& e : measured)
    if (!e.predicted) groups[threadsOf(e.hw)].push_back(&e);
  if (groups.empty()) throw InvalidArgument("latency predictor: no measured entries to fit");
  for (const auto& [threads, rows] : groups) {
    if (rows.size() < 2)
      throw InvalidArgument(fmt::format(
          "latency predictor: {} measured entr{} for threads={}; measure at least 2 (4 for a full fit)", rows.size(),
          rows.size() == 1 ? "y" : "ies", threads));
    Eigen::MatrixXd a(static_cast<Eigen::Index>(rows.size()), kCoefficients);
    Eigen::VectorXd b(static_cast<Eigen::Index>(rows.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const double inv_f = freq_knob.empty() ? 1.0 : p.freq_scale_ / static_cast<double>(rows[i]->hw.at(freq_knob));
      a.row(static_cast<Eigen::Index>(i)) = features(rows[i]->macs, inv_f).transpose();
      b(static_cast<Eigen::Index>(i)) = rows[i]->latency_ms;
    }
    // Relative least squares: weight each row by 1 / latency so small and large entries count alike.
    Eigen::VectorXd w = b.cwiseInverse();
    Eigen::MatrixXd aw = w.asDiagonal() * a;
    Eigen::VectorXd bw = w.asDiagonal() * b;
    Eigen::VectorXd x = aw.completeOrthogonalDecomposition().solve(bw);
    p.coef_[threads] = {x(0), x(1), x(2), x(3)};
  }
  return p;
}

double LatencyPredictor::predictMs(double macs, const HardwareState& hw) const {
  auto it = coef_.find(threadsOf(hw));
  if (it == coef_.end())
    throw InvalidArgument(fmt::format("latency predictor: no fit for threads={}; measure that thread count", threadsOf(hw)));
  double inv_f = 1;
  if (!freq_knob_.empty()) {
    auto f = hw.find(freq_knob_);
    if (f == hw.end() || f->second <= 0)
      throw InvalidArgument(fmt::format("latency predictor: hardware state lacks a positive '{}'", freq_knob_));
    inv_f = freq_scale_ / static_cast<double>(f->second);
  }
  const auto& c = it->second;
  const Eigen::Vector4d x = features(macs, inv_f);
  return std::max(1e-3, c[0] * x(0) + c[1] * x(1) + c[2] * x(2) + c[3] * x(3));
}

PredictorQuality LatencyPredictor::evaluate(const std::vector<ProfileEntry>& train,
                                            const std::vector<ProfileEntry>& held_out, const std::string& freq_knob) {
  const auto p = fit(train, freq_knob);
  PredictorQuality q;
  q.train = train.size();
  q.held_out = held_out.size();
  double sum = 0;
  for (const auto& e : held_out) {
    const double err = std::abs(p.predictMs(e.macs, e.hw) - e.latency_ms) / e.latency_ms * 100;
    sum += err;
    q.max_abs_pct_error = std::max(q.max_abs_pct_error, err);
  }
  q.mean_abs_pct_error = held_out.empty() ? 0 : sum / static_cast<double>(held_out.size());
  return q;
}

void LatencyPredictor::fillMissing(Profile& profile) const {
  std::map<std::string, const ProfileEntry*> ops;
  for (const auto& e : profile.entries) ops.emplace(e.op, &e);
  const auto states = profile.hardwareStates();
  std::vector<ProfileEntry> added;
  for (const auto& op : profile.operatingPoints()) {
    for (const auto& hw : states) {
      if (profile.find(op, hw) >= 0) continue;
      ProfileEntry e = *ops.at(op);
      e.hw = hw;
      e.latency_ms = predictMs(e.macs, hw);
      e.latency_std_ms = 0.05 * e.latency_ms;  // unmeasured: assume 5% spread
      e.power_w = 0;
      e.idle_power_w = 0;
      for (const auto& m : profile.entries)  // power depends on the hardware state far more than on the op
        if (m.hw == hw && !m.predicted) { e.power_w = m.power_w; e.idle_power_w = m.idle_power_w; break; }
      e.predicted = true;
      added.push_back(std::move(e));
    }
  }
  profile.entries.insert(profile.entries.end(), added.begin(), added.end());
}

}  // namespace dyndnn::runtime
