#pragma once
// Measuring a runtime::Profile on this machine (dyndnn profile, dyndnn run), and the frames both verbs feed.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dyndnn/dyndnn.hpp"
#include "dyndnn/profiling.hpp"
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

/// dyndnn::measureProfile fed with `frames` (random tensors when there are none), with a progress bar and a time
/// estimate after the first entry when `progress` is on.
void measureProfileWithProgress(DynamicModel& model, hw::Governor* governor, hw::PowerSensor* sensor,
                                const Frames& frames, ProfilingOptions options, runtime::Profile& profile,
                                bool progress = true);

/// Hardware states of this machine's affinity governor: each thread count from 1 to the usable CPUs.
std::vector<runtime::HardwareState> threadStates(hw::Governor& governor);
/// The placements worth profiling for contention: each thread count on all usable CPUs, and one thread pinned to
/// each single CPU (a competitor on one core then leaves a placement the manager can move to).
std::vector<runtime::HardwareState> placementStates(hw::Governor& governor);

}  // namespace dyndnn::cli
