// Detection for `dyndnn hw` and makeGovernor(): try each backend and keep the reason when one is missing,
// because "why can't I change the frequency" is the first question on a new board.

#include <functional>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/report.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {
namespace {

HardwareReport::Backend describe(const std::string& name, const std::function<std::unique_ptr<Governor>()>& make) {
  HardwareReport::Backend b;
  b.name = name;
  try {
    auto gov = make();
    b.available = true;
    b.knobs = gov->knobs();
    try {
      b.current = gov->current();
    } catch (const Error& e) {
      b.reason = std::string("current values unreadable: ") + e.what();
    }
  } catch (const Error& e) {
    b.reason = e.what();
  }
  return b;
}

}  // namespace

std::unique_ptr<Governor> makeGovernor(const GovernorOptions& options) {
  std::vector<std::unique_ptr<Governor>> parts;
  try {
    parts.push_back(makeCpufreqGovernor(options));
  } catch (const HardwareError&) {  // no cpufreq here: the other knobs still work
  }
  try {
    parts.push_back(makeDevfreqGovernor(options));
  } catch (const HardwareError&) {
  }
  parts.push_back(makeAffinityGovernor(options));
  return makeCompositeGovernor(std::move(parts));
}

HardwareReport detectHardware(const std::string& root, const NvmlOptions& nvml) {
  HardwareReport r;
  Sysfs fs(root);
  r.root = fs.root();
  r.topology = detectCpuTopology(root);
  GovernorOptions o;
  o.root = root;
  r.backends.push_back(describe("cpufreq", [&] { return makeCpufreqGovernor(o); }));
  r.backends.push_back(describe("devfreq", [&] { return makeDevfreqGovernor(o); }));
  r.backends.push_back(describe("affinity", [&] { return makeAffinityGovernor(o); }));
  r.backends.push_back(describe("nvml", [&] { return makeNvmlGovernor(nvml); }));

  // Power. RAPL counters need two reads some time apart for a power value; report readability only.
  for (const auto& d : fs.list("sys/class/powercap")) {
    if (d.rfind("intel-rapl:", 0) != 0 || d.find(':', 11) != std::string::npos) continue;
    HardwareReport::Sensor s{"rapl." + d, "energy", fs.path("sys/class/powercap/" + d + "/energy_uj"), "", false, {}, "J"};
    try {
      s.name = makeRaplSensor(root, d)->info().name;
      s.readable = true;
      s.note = "energy counter (uJ), wrap-around handled";
    } catch (const HardwareError& e) {
      s.note = e.what();
    }
    r.sensors.push_back(s);
  }
  for (auto& ina : makeIna3221Sensors(root)) {
    HardwareReport::Sensor s{ina->info().name, "power", ina->info().source, ina->info().note, false, {}, "W"};
    try {
      s.value = ina->sample().watts;
      s.readable = true;
    } catch (const HardwareError& e) {
      s.note = e.what();
    }
    r.sensors.push_back(s);
  }
  // INA231 vendor sensors must be enabled (a write) to measure: list them without touching them.
  const std::string ina231 = "sys/bus/i2c/drivers/INA231";
  for (const auto& chip : fs.list(ina231))
    if (fs.exists(ina231 + "/" + chip + "/sensor_W"))
      r.sensors.push_back({"ina231." + chip, "power", fs.path(ina231 + "/" + chip + "/sensor_W"),
                           "vendor driver; enabled when a sensor is made", fs.writable(ina231 + "/" + chip + "/enable"),
                           {}, "W"});
  for (const auto& h : fs.list("sys/class/hwmon")) {
    const std::string dir = "sys/class/hwmon/" + h;
    if (fs.tryRead(dir + "/name") && fs.readTrimmed(dir + "/name") == "ina231" && fs.exists(dir + "/power1_input")) {
      const auto uw = fs.tryReadInt(dir + "/power1_input");
      r.sensors.push_back({"ina231." + h, "power", fs.path(dir + "/power1_input"), "hwmon (uW)", uw.has_value(),
                           uw ? std::optional<double>(*uw / 1e6) : std::nullopt, "W"});
    }
  }
  {
    std::string why;
    if (nvmlAvailable(nvml, &why)) {
      auto s = makeNvmlSensor(nvml);
      r.sensors.push_back({s->info().name, "power", s->info().source, s->info().note, true, s->sample().watts, "W"});
    } else {
      r.sensors.push_back({"nvml", "power", nvml.library, why, false, {}, "W"});
    }
  }
  try {
    CpuLoadSensor load(root);
    r.sensors.push_back({"cpu_load.others", "cpu_load", fs.path("proc/stat"),
                         "busy time of other processes (/proc/stat minus /proc/self/stat) between samples", true, {},
                         "fraction"});
  } catch (const HardwareError& e) {
    r.sensors.push_back({"cpu_load.others", "cpu_load", fs.path("proc/stat"), e.what(), false, {}, "fraction"});
  }
  for (const auto& t : readTemperatures(root))
    r.sensors.push_back({"thermal." + t.type, "temperature", fs.path("sys/class/thermal/" + t.zone + "/temp"), t.zone,
                         true, t.celsius, "degC"});
  return r;
}

}  // namespace dyndnn::hw
