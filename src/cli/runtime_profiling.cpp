#include "cli/runtime_profiling.hpp"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "cli/idx_dataset.hpp"
#include "cli/progress.hpp"

namespace dyndnn::cli {

ImageView Frames::view(int i) const {
  const std::size_t px = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  return ImageView{pixels.data() + static_cast<std::size_t>(i % count) * px, rows, cols, 1, 0};
}

Frames loadFrames(const DynamicModel& model, const std::string& data_dir, int limit) {
  Frames f;
  if (model.info().input.channels != 1 || data_dir.empty()) return f;
  auto find = [&](const std::string& stem) {
    for (const char* s : {".gz", ""}) {
      auto p = std::filesystem::path(data_dir) / (stem + s);
      if (std::filesystem::exists(p)) return p.string();
    }
    return std::string();
  };
  const auto ip = find("t10k-images-idx3-ubyte"), lp = find("t10k-labels-idx1-ubyte");
  if (ip.empty() || lp.empty()) return f;
  auto images = readIdxImages(ip);
  auto labels = readIdxLabels(lp);
  f.count = std::min(images.count, limit > 0 ? limit : images.count);
  f.rows = images.rows;
  f.cols = images.cols;
  f.pixels.assign(images.pixels.begin(), images.pixels.begin() + static_cast<std::ptrdiff_t>(f.count) * f.rows * f.cols);
  f.labels.assign(labels.begin(), labels.begin() + f.count);
  return f;
}

std::vector<runtime::HardwareState> threadStates(hw::Governor& governor) {
  std::vector<runtime::HardwareState> out;
  for (const auto& k : governor.knobs())
    if (k.name == "threads")
      for (auto v : k.levels) out.push_back({{"threads", v}});
  if (out.empty()) throw HardwareError("the governor has no 'threads' knob; profile needs the affinity backend");
  return out;
}

void measureProfile(DynamicModel& model, hw::Governor* governor, hw::PowerSensor* sensor, const Frames& frames,
                    const ProfilingOptions& o, runtime::Profile& profile) {
  if (o.runs < 2 || o.warmup < 0) throw InvalidArgument("profile: --runs must be >= 2 and --warmup >= 0");
  std::vector<const OperatingPoint*> ops;
  for (const auto& op : model.operatingPoints())
    if (o.ops.empty() || std::find(o.ops.begin(), o.ops.end(), op.name) != o.ops.end()) ops.push_back(&op);
  if (ops.empty()) throw InvalidArgument("profile: no operating point to measure (check --op names)");
  std::vector<std::pair<const OperatingPoint*, runtime::HardwareState>> todo;
  for (const auto& s : o.states)
    for (auto* op : ops)
      if (profile.find(op->name, s) < 0) todo.push_back({op, s});
  if (todo.empty()) return;
  const int channels = model.info().input.channels;
  Progress progress("profile", static_cast<long>(todo.size()) * (o.warmup + o.runs), o.progress);
  bool estimated = false;
  const auto start = std::chrono::steady_clock::now();
  int frame = 0;
  for (std::size_t t = 0; t < todo.size(); ++t) {
    const auto& [op, state] = todo[t];
    if (governor) governor->apply(state);
    if (auto th = state.find("threads"); th != state.end()) model.setThreads(static_cast<int>(th->second));
    model.setSubnet(op->name);
    const int r = op->config.r > 0 ? op->config.r : 28;
    at::Tensor input = at::rand({1, channels, r, r});
    auto once = [&] {
      if (frames.count > 0) (void)model.infer(frames.view(frame++));
      else (void)model.infer(input);
    };
    for (int i = 0; i < o.warmup; ++i, progress.step()) once();
    std::vector<double> ms;
    const double e0 = sensor ? sensor->sample().joules : 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.runs; ++i, progress.step()) {
      const auto a = std::chrono::steady_clock::now();
      once();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
    if (!estimated && o.progress) {
      estimated = true;
      const double per = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print(stderr, "profile: {} entries to measure, about {:.0f} s in all (first took {:.2f} s)\n", todo.size(),
                 per * static_cast<double>(todo.size()), per);
    }
  }
  progress.done();
}

}  // namespace dyndnn::cli
