#include "cli/runtime_profiling.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/tools/idx_dataset.hpp"
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
    if (k.name == hw::knobs::kThreads)
      for (auto v : k.levels) out.push_back({{hw::knobs::kThreads, v}});
  if (out.empty()) throw HardwareError("the governor has no 'threads' knob; profile needs the affinity backend");
  return out;
}

std::vector<runtime::HardwareState> placementStates(hw::Governor& governor) {
  const auto knobs = governor.knobs();
  const auto affinity = std::find_if(knobs.begin(), knobs.end(), [](const hw::Knob& k) { return k.name == hw::knobs::kAffinity; });
  if (affinity == knobs.end() || affinity->levels.empty())
    throw HardwareError("the governor has no 'affinity' knob; placements need the affinity backend");
  const std::int64_t all = affinity->levels.front();  // the affinity governor offers every usable CPU first
  std::vector<runtime::HardwareState> out;
  for (auto s : threadStates(governor)) {
    s[hw::knobs::kAffinity] = all;
    out.push_back(std::move(s));
  }
  for (auto mask : affinity->levels)
    if (hw::cpusOfMask(mask).size() == 1 && mask != all) out.push_back({{hw::knobs::kThreads, 1}, {hw::knobs::kAffinity, mask}});
  return out;
}

void measureProfileWithProgress(DynamicModel& model, hw::Governor* governor, hw::PowerSensor* sensor,
                                const Frames& frames, ProfilingOptions o, runtime::Profile& profile, bool progress) {
  std::size_t todo = 0;  // entries still to measure, for the bar's length
  for (const auto& s : o.states)
    for (const auto& op : model.operatingPoints())
      if ((o.ops.empty() || std::find(o.ops.begin(), o.ops.end(), op.name) != o.ops.end()) &&
          profile.find(op.name, s) < 0)
        ++todo;
  Progress bar("profile", static_cast<long>(todo) * (o.warmup + o.runs), progress);
  int frame = 0;
  if (frames.count > 0) o.run_frame = [&](DynamicModel& m) { (void)m.infer(frames.view(frame++)); };
  o.on_step = [&] { bar.step(); };
  o.on_entry = [&](std::size_t done, std::size_t total, double seconds) {
    if (done == 1 && progress)
      fmt::print(stderr, "profile: {} entries to measure, about {:.0f} s in all (first took {:.2f} s)\n", total,
                 seconds * static_cast<double>(total), seconds);
  };
  measureProfile(model, governor, sensor, o, profile);
  bar.done();
}

}  // namespace dyndnn::cli
