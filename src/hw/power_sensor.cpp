// The common half of every power sensor: turning energy counters into power and power into energy, so the
// runtime always gets both whatever the board offers.

#include <chrono>

#include "dyndnn/hw/sensors.hpp"

namespace dyndnn::hw {

PowerSensor::Clock PowerSensor::steadyClock() {
  return [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
}

PowerSensor::PowerSensor(Clock clock) : clock_(clock ? std::move(clock) : steadyClock()) {}

PowerSample PowerSensor::sample() {
  std::lock_guard<std::mutex> lock(mutex_);
  const Reading r = read();
  const double now = clock_();
  PowerSample s;
  s.time_s = now;
  const double dt = first_ ? 0.0 : now - last_.time_s;
  if (r.energy_delta_j) {
    // The first reading only sets the counter's origin.
    s.joules = first_ ? 0.0 : last_.joules + *r.energy_delta_j;
    s.watts = dt > 0 ? *r.energy_delta_j / dt : last_.watts;
  } else {
    s.watts = r.watts.value_or(0.0);
    // Trapezoid rule between samples: exact for power that changes linearly between them.
    s.joules = first_ ? 0.0 : last_.joules + 0.5 * (last_.watts + s.watts) * dt;
  }
  first_ = false;
  last_ = s;
  return s;
}

}  // namespace dyndnn::hw
