#pragma once
/// \file sensors.hpp
/// What the hardware costs: power and energy (RAPL, INA3221 on Jetson, INA231 on Odroid, NVML, simulated),
/// the CPU load of other processes, and temperatures. Every power sensor gives both power and energy: energy
/// counters are differentiated for power, power-only sensors are integrated (trapezoid rule) for energy.
///
/// Thread safety: PowerSensor::sample() and CpuLoadSensor::sample() may be called from several threads.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/hw/nvml.hpp"

namespace dyndnn::hw {

struct SensorInfo {
  std::string name;        ///< "rapl.package-0", "ina3221.VDD_IN", "ina231.A15", "nvml.gpu0", "simulated.total"
  std::string source;      ///< the file or API read
  bool simulated = false;  ///< true for the simulated platform: a model, not a measurement
  std::string note;        ///< e.g. "energy counter" or "power, integrated"
};

struct PowerSample {
  double time_s = 0;  ///< clock time of this sample
  double watts = 0;   ///< power now (power sensors) or mean power since the previous sample (energy counters)
  double joules = 0;  ///< energy since the first sample
};

class PowerSensor {
 public:
  /// Monotonic seconds. Tests pass their own clock so energy sums can be checked exactly.
  using Clock = std::function<double()>;
  static Clock steadyClock();

  virtual ~PowerSensor() = default;
  virtual SensorInfo info() const = 0;
  /// Reads the hardware once and updates the running energy total.
  PowerSample sample();

 protected:
  explicit PowerSensor(Clock clock);
  /// One reading: either power in watts, or energy in joules since the previous reading (wrap handled).
  struct Reading {
    std::optional<double> watts;
    std::optional<double> energy_delta_j;
  };
  virtual Reading read() = 0;

 private:
  Clock clock_;
  std::mutex mutex_;
  bool first_ = true;
  PowerSample last_;
};

/// RAPL powercap domain (default package 0): energy_uj, wrapping at max_energy_range_uj. Root-only since
/// Linux 5.10. Throws HardwareError when absent or unreadable.
std::unique_ptr<PowerSensor> makeRaplSensor(const std::string& root = "/", const std::string& domain = "intel-rapl:0",
                                            PowerSensor::Clock clock = PowerSensor::steadyClock());
/// Jetson INA3221 rails: L4T iio (in_powerN_input, mW, rail_name_N) or mainline hwmon (inN_input mV x
/// currN_input mA, inN_label). One sensor per rail; empty when none is found.
std::vector<std::unique_ptr<PowerSensor>> makeIna3221Sensors(const std::string& root = "/",
                                                             PowerSensor::Clock clock = PowerSensor::steadyClock());
/// Odroid XU3 INA231 rails (A15, memory, GPU, A7): vendor driver sensor_W (enabled first, and disabled again
/// on destruction if it was off) or hwmon power1_input (uW). Empty when none is found.
std::vector<std::unique_ptr<PowerSensor>> makeIna231Sensors(const std::string& root = "/",
                                                            PowerSensor::Clock clock = PowerSensor::steadyClock());
/// NVML board power (mW) and, on Volta and later, its energy counter (mJ). Throws HardwareError when NVML is
/// unavailable.
std::unique_ptr<PowerSensor> makeNvmlSensor(const NvmlOptions& options = {},
                                            PowerSensor::Clock clock = PowerSensor::steadyClock());
/// Every real power sensor found under `root` (RAPL package domains, INA3221, INA231; not NVML).
std::vector<std::unique_ptr<PowerSensor>> detectPowerSensors(const std::string& root = "/",
                                                             PowerSensor::Clock clock = PowerSensor::steadyClock());

/// CPU load of the *other* processes: busy time in /proc/stat minus this process's utime+stime from
/// /proc/self/stat, as a fraction of all CPU time between two samples (0..1). The first sample returns 0.
class CpuLoadSensor {
 public:
  explicit CpuLoadSensor(const std::string& root = "/");
  double sample();
  /// The same per CPU (index = N of /proc/stat's "cpuN" lines): busy time of each CPU minus this process's threads'
  /// time (/proc/self/task/*/stat), each thread's counted on the CPU it last ran on (exact for pinned threads, an
  /// estimate for one that moved within the interval). Kernel ticks are 10 ms, so intervals of 100 ms or more
  /// tell a busy competitor (near 1) from none (near 0). The first call returns zeros. Independent of sample().
  std::vector<double> samplePerCpu();

 private:
  std::string root_;
  std::mutex mutex_;
  bool first_ = true;
  long long last_busy_ = 0, last_total_ = 0, last_self_ = 0;
  bool first_per_cpu_ = true;
  std::vector<long long> cpu_busy_, cpu_total_;
  std::map<std::string, long long> task_ticks_;  // thread id -> utime + stime at the last samplePerCpu()
};

struct Temperature {
  std::string zone;  ///< "thermal_zone0"
  std::string type;  ///< "CPU-therm", "x86_pkg_temp"
  double celsius = 0;
};
/// Every readable /sys/class/thermal/thermal_zoneN (temp in millidegrees Celsius).
std::vector<Temperature> readTemperatures(const std::string& root = "/");

}  // namespace dyndnn::hw
