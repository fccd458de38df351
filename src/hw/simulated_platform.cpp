#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/sim/platform.hpp"

namespace dyndnn::hw {
namespace {
double mhz(const PowerDomainModel& d, std::int64_t freq) {
  return static_cast<double>(freq) / (d.unit == "Hz" ? 1e6 : 1e3);
}
}  // namespace

SimulatedPlatform::SimulatedPlatform(PlatformProfile profile) : profile_(std::move(profile)) {
  for (const auto& d : profile_.domains) {
    if (d.opps.empty()) throw InvalidArgument(fmt::format("simulated domain {} has no operating points", d.name));
    const bool known = std::any_of(d.opps.begin(), d.opps.end(), [&](const VoltagePoint& v) { return v.freq == d.initial_freq; });
    freq_.push_back(known ? d.initial_freq : d.opps.back().freq);
  }
}

const PowerDomainModel& SimulatedPlatform::domain(const std::string& name) const {
  for (const auto& d : profile_.domains)
    if (d.name == name) return d;
  throw InvalidArgument(fmt::format("simulated platform {} has no domain '{}'", profile_.name, name));
}

double SimulatedPlatform::millivolts(const PowerDomainModel& d, std::int64_t freq) const {
  for (const auto& v : d.opps)
    if (v.freq == freq) return v.millivolts;
  throw InvalidArgument(fmt::format("simulated {}: {} {} is not an operating point", d.name, freq, d.unit));
}

void SimulatedPlatform::setFrequency(const std::string& name, std::int64_t freq) {
  const PowerDomainModel& d = domain(name);
  millivolts(d, freq);  // validates
  std::lock_guard<std::mutex> lock(mutex_);
  freq_[static_cast<std::size_t>(&d - profile_.domains.data())] = freq;
}

std::int64_t SimulatedPlatform::frequency(const std::string& name) const {
  const PowerDomainModel& d = domain(name);
  std::lock_guard<std::mutex> lock(mutex_);
  return freq_[static_cast<std::size_t>(&d - profile_.domains.data())];
}

void SimulatedPlatform::setBackgroundLoad(double fraction) {
  if (!(fraction >= 0 && fraction <= 0.95))
    throw InvalidArgument(fmt::format("background load {} is outside 0..0.95", fraction));
  std::lock_guard<std::mutex> lock(mutex_);
  background_ = fraction;
}

double SimulatedPlatform::backgroundLoad() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return background_;
}

double SimulatedPlatform::latencyLocked(const SimulatedWork& work) const {
  const PowerDomainModel& d = domain(work.domain);
  const std::int64_t f = freq_[static_cast<std::size_t>(&d - profile_.domains.data())];
  const double m = std::clamp(work.memory_bound_fraction, 0.0, 1.0);
  double t = work.seconds_at_max * (m + (1 - m) * mhz(d, d.opps.back().freq) / mhz(d, f));
  if (!d.cpus.empty()) t /= 1 - background_;  // time-sharing the cores with other processes
  return t;
}

double SimulatedPlatform::powerLocked(const SimulatedWork* work) const {
  double watts = 0;
  for (std::size_t i = 0; i < profile_.domains.size(); ++i) {
    const PowerDomainModel& d = profile_.domains[i];
    const double per_unit_w = d.capacitance * std::pow(millivolts(d, freq_[i]), 2) * mhz(d, freq_[i]) / 1e12;
    const int units = d.cpus.empty() ? 1 : static_cast<int>(d.cpus.size());
    const int busy = !work || work->domain != d.name ? 0 : (d.cpus.empty() ? 1 : std::clamp(work->threads, 1, units));
    const double background = d.cpus.empty() ? 0 : background_;
    watts += d.static_watts + per_unit_w * (busy + (units - busy) * background);
  }
  return watts;
}

double SimulatedPlatform::latencySeconds(const SimulatedWork& work) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return latencyLocked(work);
}

double SimulatedPlatform::powerWatts(const SimulatedWork* work) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return powerLocked(work);
}

double SimulatedPlatform::run(const SimulatedWork& work) {
  std::lock_guard<std::mutex> lock(mutex_);
  const double t = latencyLocked(work);
  energy_ += powerLocked(&work) * t;
  time_ += t;
  return t;
}

void SimulatedPlatform::idle(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  energy_ += powerLocked(nullptr) * seconds;
  time_ += seconds;
}

double SimulatedPlatform::timeSeconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return time_;
}

double SimulatedPlatform::energyJoules() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return energy_;
}

}  // namespace dyndnn::hw
