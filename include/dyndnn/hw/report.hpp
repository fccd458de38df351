#pragma once
/// \file report.hpp
/// What this machine offers: every knob (with levels, current value and whether this process may write it),
/// every sensor, and why a backend is unavailable. Detection only reads; it changes nothing.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/nvml.hpp"

namespace dyndnn::hw {

struct HardwareReport {
  struct Backend {
    std::string name;          ///< "cpufreq", "devfreq", "affinity", "nvml"
    bool available = false;
    std::string reason;        ///< why not, when unavailable
    std::vector<Knob> knobs;
    HardwareState current;     ///< empty when it could not be read
  };
  struct Sensor {
    std::string name, kind, source, note;  ///< kind: "power", "energy", "cpu_load", "temperature"
    bool readable = false;
    std::optional<double> value;           ///< W, fraction or degrees C; none for counters read once
    std::string unit;
  };
  std::string root;
  CpuTopology topology;
  std::vector<Backend> backends;
  std::vector<Sensor> sensors;
};

HardwareReport detectHardware(const std::string& root = "/", const NvmlOptions& nvml = {});

}  // namespace dyndnn::hw
