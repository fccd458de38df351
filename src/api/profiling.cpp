// measureProfile: latency (and power) of operating points x hardware states, measured on this device.
// Part of the dyndnn library (it runs a DynamicModel); `dyndnn profile` and DynamicModel::setTarget use it.

#include "dyndnn/profiling.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/model.hpp"

namespace dyndnn {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Puts the model's operating point (or explicit config) and thread count back when profiling ends, also on error.
class ModelStateGuard {
 public:
  explicit ModelStateGuard(DynamicModel& m)
      : model_(m), name_(m.activeName()), config_(m.activeConfig()), threads_(m.threads()) {}
  ~ModelStateGuard() {
    try {
      model_.setThreads(threads_);
      if (name_.empty()) model_.setSubnet(config_);
      else model_.setSubnet(name_);
    } catch (...) {  // a destructor must not throw; the sub-network was valid when we found it
    }
  }

 private:
  DynamicModel& model_;
  std::string name_;
  SubnetConfig config_;
  int threads_;
};

}  // namespace

std::vector<runtime::HardwareState> threadCountStates(int max_threads) {
  cpu_set_t set;
  int usable = static_cast<int>(std::thread::hardware_concurrency());
  if (sched_getaffinity(0, sizeof(set), &set) == 0) usable = CPU_COUNT(&set);
  const int n = std::max(1, std::min(usable, max_threads));
  std::vector<runtime::HardwareState> out;
  for (int t = 1; t <= n; ++t) out.push_back({{hw::knobs::kThreads, t}});
  return out;
}

void measureProfile(DynamicModel& model, hw::Governor* governor, hw::PowerSensor* sensor, const ProfilingOptions& o,
                    runtime::Profile& profile) {
  if (o.runs < 2 || o.warmup < 0)
    throw InvalidArgument(fmt::format("profile: runs = {} and warmup = {}: runs must be >= 2 and warmup >= 0",
                                      o.runs, o.warmup));
  std::vector<const OperatingPoint*> ops;
  for (const auto& op : model.operatingPoints())
    if (o.ops.empty() || std::find(o.ops.begin(), o.ops.end(), op.name) != o.ops.end()) ops.push_back(&op);
  if (ops.empty())
    throw InvalidArgument(model.operatingPoints().empty()
                              ? fmt::format("profile: {} has no operating points to measure", model.info().path)
                              : std::string("profile: none of the requested operating points exists (check the names)"));
  std::vector<runtime::HardwareState> states = o.states;
  if (states.empty()) states.push_back(
        {{hw::knobs::kThreads, static_cast<std::int64_t>(model.threads() > 0 ? model.threads() : at::get_num_threads())}});
  for (const auto& s : states)
    for (const auto& [knob, level] : s)
      if (knob != hw::knobs::kThreads && !governor)
        throw InvalidArgument(fmt::format("profile: state knob '{}' needs a governor that has it; give one, or "
                                          "profile thread counts only", knob));

  std::vector<std::pair<const OperatingPoint*, runtime::HardwareState>> todo;
  for (const auto& s : states)
    for (auto* op : ops)
      if (profile.find(op->name, s) < 0) todo.push_back({op, s});
  if (todo.empty()) return;

  ModelStateGuard restore_model(model);
  const int channels = model.info().input.channels;
  const auto start = Clock::now();
  for (std::size_t t = 0; t < todo.size(); ++t) {
    const auto& [op, state] = todo[t];
    if (governor) {
      runtime::HardwareState knobs = state;
      knobs.erase(hw::knobs::kThreads);  // the model's own knob unless the governor has it too
      for (const auto& k : governor->knobs())
        if (k.name == hw::knobs::kThreads && state.count(hw::knobs::kThreads)) knobs[k.name] = state.at(k.name);
      governor->apply(knobs);
    }
    if (const int t = hw::threadsOf(state); t > 0) model.setThreads(t);
    model.setSubnet(op->name);
    const int r = op->config.r > 0 ? op->config.r : model.info().input.resolutions.back();
    const at::Tensor input = at::rand({1, channels, r, r});
    auto once = [&] {
      if (o.run_frame) o.run_frame(model);
      else (void)model.infer(input);
      if (o.on_step) o.on_step();
    };
    for (int i = 0; i < o.warmup; ++i) once();
    std::vector<double> ms;
    const double e0 = sensor ? sensor->sample().joules : 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < o.runs; ++i) {
      const auto a = Clock::now();
      once();
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    }
    const double wall = secondsSince(t0);
    double mean = 0, var = 0;
    for (double x : ms) mean += x;
    mean /= static_cast<double>(ms.size());
    for (double x : ms) var += (x - mean) * (x - mean);
    var /= static_cast<double>(ms.size() - 1);
    runtime::ProfileEntry e;
    e.op = op->name;
    e.hw = state;
    e.macs = static_cast<double>(op->metrics.macs);
    e.accuracy = op->metrics.accuracy.value_or(0.0);
    e.latency_ms = mean;
    e.latency_std_ms = std::sqrt(var);
    if (sensor) e.power_w = (sensor->sample().joules - e0) / wall;
    profile.entries.push_back(std::move(e));
    if (!o.checkpoint_path.empty()) profile.save(o.checkpoint_path);
    if (o.on_entry) o.on_entry(t + 1, todo.size(), secondsSince(start));
  }
}

}  // namespace dyndnn
