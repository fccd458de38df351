#pragma once
// Measuring a runtime::Profile on this machine (dyndnn profile, dyndnn run), and the frames both verbs feed.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dyndnn/dyndnn.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn::cli {

/// Test frames: 1-channel IDX images (with labels) when the model takes 1 channel and the data exist, else none
/// (random input tensors are used).
struct Frames {
  int count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels, labels;
  ImageView view(int i) const;
};
Frames loadFrames(const DynamicModel& model, const std::string& data_dir, int limit);

struct ProfilingOptions {
  int warmup = 5, runs = 30;
  std::vector<runtime::HardwareState> states;  ///< hardware states to measure (knobs of `governor`)
  std::vector<std::string> ops;                ///< operating points (all when empty)
  bool progress = true;
  std::string checkpoint_path;                 ///< saved after every entry (resumable)
};

/// Measures every (op, state) not already in `profile` (so a loaded partial profile resumes); prints a time
/// estimate after the first entry. Latency: mean/std over `runs` after `warmup`; power: from `sensor` when given.
void measureProfile(DynamicModel& model, hw::Governor* governor, hw::PowerSensor* sensor, const Frames& frames,
                    const ProfilingOptions& options, runtime::Profile& profile);

/// Hardware states of this machine's affinity governor: each thread count from 1 to the usable CPUs.
std::vector<runtime::HardwareState> threadStates(hw::Governor& governor);

}  // namespace dyndnn::cli
