#pragma once
/// \file platform.hpp
/// A model of a device, for tests and energy benchmarks on machines without the real board. Everything it
/// produces is labelled simulated (Governor::simulated(), SensorInfo::simulated, names starting with
/// "simulated"): its numbers are a model, never a measurement.
///
/// Model: per-core dynamic power P[uW] = C * V[mV]^2 * f[MHz] / 1e6 times utilisation (the Linux energy model,
/// FACTS section 5), plus static power per domain; latency t(f) = t(f_max) * (m + (1 - m) * f_max / f) for a
/// memory-bound fraction m, stretched by 1 / (1 - background load) on the cores the work shares.
///
/// Thread safety: every SimulatedPlatform method may be called from several threads.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/sensors.hpp"

namespace dyndnn::hw {

struct VoltagePoint {
  std::int64_t freq = 0;  ///< in the domain's unit
  double millivolts = 0;
};

struct PowerDomainModel {
  std::string name;                 ///< "a15", "a7", "cpu", "gpu"
  std::string unit;                 ///< "kHz" (CPU clusters) or "Hz" (GPU)
  std::vector<int> cpus;            ///< the cluster's CPUs; empty for a GPU
  std::vector<VoltagePoint> opps;   ///< ascending frequency
  double capacitance = 0;           ///< dynamic-power-coefficient C per core (per GPU)
  double static_watts = 0;          ///< leakage of the powered domain
  std::int64_t initial_freq = 0;    ///< frequency before any governor changes it
};

struct PlatformProfile {
  std::string name;
  std::vector<PowerDomainModel> domains;
  std::string provenance;  ///< where the numbers come from, and which are assumptions
};

/// Jetson Xavier NX: 6 Carmel cores (one DVFS domain in the model) and the Volta GPU. Frequencies from FACTS
/// section 5; voltages, C and static power are assumptions (stated in provenance).
PlatformProfile xavierNxProfile();
/// Odroid XU3 (Exynos 5422): A7 cpu0-3 and A15 cpu4-7 with the exynos5800 OPP table and C = 90 / 310.
PlatformProfile odroidXu3Profile();
/// Jetson Nano: 4 Cortex-A57 cores (102 MHz - 1.48 GHz) and the 128-core Maxwell GPU (76.8 - 921.6 MHz).
/// Frequencies from the L4T tables; voltages, C and static power are assumptions (stated in provenance).
PlatformProfile jetsonNanoProfile();
/// Throughput of the Nano's GPU at 921.6 MHz on a small CNN relative to one A57 core at 1.48 GHz: ASSUMED (its
/// fp32 peak is ~20x one core's, and batch-1 networks of a few MMACs leave most of it idle).
inline constexpr double kJetsonNanoGpuSpeed = 4.0;
/// A two-core CPU without DVFS, like the development VM: one 2 GHz level, C = 300, 0.5 W static (assumed); the
/// contention experiments' simulated counterpart.
PlatformProfile twoCoreProfile();

/// Work to run on the simulated device.
struct SimulatedWork {
  std::string domain;                 ///< where it runs
  int threads = 1;                    ///< cores busy (CPU domains)
  double seconds_at_max = 0;          ///< latency at the domain's highest frequency, no background load
  double memory_bound_fraction = 0.2; ///< part of the latency that does not scale with frequency
};

class SimulatedPlatform {
 public:
  explicit SimulatedPlatform(PlatformProfile profile);
  const PlatformProfile& profile() const { return profile_; }

  void setFrequency(const std::string& domain, std::int64_t freq);
  std::int64_t frequency(const std::string& domain) const;
  /// Share of every core taken by other processes (0..0.95).
  void setBackgroundLoad(double fraction);
  double backgroundLoad() const;

  /// Latency of `work` at the current frequencies and background load.
  double latencySeconds(const SimulatedWork& work) const;
  /// Power of the whole device while `work` runs (nullptr: idle, only background load and static power).
  double powerWatts(const SimulatedWork* work = nullptr) const;
  /// Runs `work`: advances the simulated clock by its latency and the energy by power x latency. Returns the
  /// latency.
  double run(const SimulatedWork& work);
  /// Idles for `seconds` of simulated time.
  void idle(double seconds);
  double timeSeconds() const;
  double energyJoules() const;

 private:
  const PowerDomainModel& domain(const std::string& name) const;
  double millivolts(const PowerDomainModel& d, std::int64_t freq) const;
  double powerLocked(const SimulatedWork* work) const;
  double latencyLocked(const SimulatedWork& work) const;

  PlatformProfile profile_;
  mutable std::mutex mutex_;
  std::vector<std::int64_t> freq_;
  double background_ = 0, time_ = 0, energy_ = 0;
};

/// Knobs "simulated.<domain>.freq" with the profile's frequencies. Restore puts the initial frequencies back.
std::unique_ptr<Governor> makeSimulatedGovernor(std::shared_ptr<SimulatedPlatform> platform);
/// Power and energy of the simulated platform on its own simulated clock.
std::unique_ptr<PowerSensor> makeSimulatedSensor(std::shared_ptr<SimulatedPlatform> platform);

}  // namespace dyndnn::hw
