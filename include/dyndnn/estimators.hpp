#pragma once
/// \file estimators.hpp
/// What the runtime manager learns from the frames it sees: the device's slowdown against the profile (a Kalman
/// filter with change detection) and a fixed window of recent latencies. Plain value types, no LibTorch.

#include <cstddef>
#include <vector>

namespace dyndnn::runtime {

/// Tracks xi = observed latency / profiled latency (how the device behaves now against the profile) with a
/// scalar Kalman filter (ALERT's constants and adaptive process noise), plus change detection ALERT lacks: two
/// consecutive innovations beyond `jump_sigma` standard deviations on the same side re-initialise the filter at
/// the new level, so a step change (a competitor takes a core, a frequency cap) is absorbed in 2 frames while a
/// single outlier frame is not.
class SlowdownEstimator {
 public:
  struct Options {
    double x0 = 1, p0 = 0.01, q0 = 0.05, r = 0.5;  ///< ALERT's constants (R relative: scaled by x^2 * 0.01)
    double q_floor = 1e-4;                          ///< floor of the adaptive process noise
    double jump_sigma = 3;                          ///< change-detection threshold
  };
  SlowdownEstimator();
  explicit SlowdownEstimator(Options options);
  /// One observation: measured latency of an entry whose profiled mean/std are given. Non-finite or
  /// non-positive values are ignored (returns false).
  bool observe(double measured_ms, double profiled_ms, double profiled_std_ms);
  /// Restart at one observation (x = its ratio, variance = the measurement noise): for an estimate known to be
  /// stale, where a single new observation says more than the old state.
  bool restartAt(double measured_ms, double profiled_ms, double profiled_std_ms);
  double mean() const { return x_; }
  double variance() const { return p_; }
  std::size_t observations() const { return n_; }
  std::size_t jumps() const { return jumps_; }
  void reset();

 private:
  Options o_;
  double x_, p_, q_;
  int pending_sign_ = 0;
  double pending_y_ = 0;
  std::size_t n_ = 0, jumps_ = 0;
};

/// The latencies of the last frames (newest last) in a fixed ring: recording one allocates nothing.
class LatencyWindow {
 public:
  explicit LatencyWindow(std::size_t capacity = 64) : ring_(capacity) {}
  void push(double ms) {
    ring_[(start_ + size_) % ring_.size()] = ms;
    if (size_ < ring_.size()) ++size_;
    else start_ = (start_ + 1) % ring_.size();
  }
  std::size_t size() const { return size_; }
  void clear() { start_ = size_ = 0; }
  /// i = 0 is the oldest kept.
  double operator[](std::size_t i) const { return ring_[(start_ + i) % ring_.size()]; }
  /// Mean of the newest n (1 <= n <= size()).
  double meanOfLast(std::size_t n) const {
    double sum = 0;
    for (std::size_t i = size_ - n; i < size_; ++i) sum += (*this)[i];
    return sum / static_cast<double>(n);
  }

 private:
  std::vector<double> ring_;
  std::size_t start_ = 0, size_ = 0;
};

}  // namespace dyndnn::runtime
