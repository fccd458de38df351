// Scalar Kalman filter on the slowdown factor (ALERT), with step-change detection.

#include <algorithm>
#include <cmath>

#include "dyndnn/runtime.hpp"

namespace dyndnn::runtime {

SlowdownEstimator::SlowdownEstimator() : SlowdownEstimator(Options{}) {}

SlowdownEstimator::SlowdownEstimator(Options options) : o_(options) { reset(); }

void SlowdownEstimator::reset() {
  x_ = o_.x0;
  p_ = o_.p0;
  q_ = o_.q0;
  pending_sign_ = 0;
  n_ = jumps_ = 0;
}

bool SlowdownEstimator::observe(double measured_ms, double profiled_ms, double profiled_std_ms) {
  if (!std::isfinite(measured_ms) || !std::isfinite(profiled_ms) || measured_ms <= 0 || profiled_ms <= 0) return false;
  const double y = measured_ms / profiled_ms;
  // Measurement noise: ALERT's R (a relative 0.5 -> 0.005 x^2) plus the profile's own spread of this entry.
  const double rel_spread = std::max(0.0, profiled_std_ms) / profiled_ms;
  const double r = o_.r * 0.01 * x_ * x_ + rel_spread * rel_spread * x_ * x_;
  const double p_prior = p_ + q_ * 0.01;
  const double innovation = y - x_;
  const double s = p_prior + r;
  const int sign = innovation > 0 ? 1 : -1;
  ++n_;
  if (std::abs(innovation) > o_.jump_sigma * std::sqrt(s)) {
    if (pending_sign_ == sign) {
      // Second outlier in a row on the same side: the device changed. Restart at the new level.
      x_ = 0.5 * (y + pending_y_);
      p_ = r + 0.25 * (y - pending_y_) * (y - pending_y_);
      q_ = o_.q0;
      pending_sign_ = 0;
      ++jumps_;
      return true;
    }
    pending_sign_ = sign;  // first outlier: hold, it may be a single spike
    pending_y_ = y;
    p_ = p_prior;
    return true;
  }
  pending_sign_ = 0;
  const double k = p_prior / s;
  x_ += k * innovation;
  p_ = (1 - k) * p_prior;
  // ALERT's adaptive process noise, in units of 0.01 (relative), floored.
  q_ = std::max(0.3 * q_ + 0.7 * (k * innovation) * (k * innovation) * 100, o_.q_floor);
  x_ = std::max(x_, 1e-3);
  return true;
}

bool SlowdownEstimator::restartAt(double measured_ms, double profiled_ms, double profiled_std_ms) {
  if (!std::isfinite(measured_ms) || !std::isfinite(profiled_ms) || measured_ms <= 0 || profiled_ms <= 0) return false;
  const double y = measured_ms / profiled_ms;
  const double rel_spread = std::max(0.0, profiled_std_ms) / profiled_ms;
  x_ = y;
  p_ = o_.r * 0.01 * y * y + rel_spread * rel_spread * y * y;
  q_ = o_.q0;
  pending_sign_ = 0;
  ++n_;
  return true;
}

}  // namespace dyndnn::runtime
