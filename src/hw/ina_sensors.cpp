// Board power monitors: TI INA3221 (Jetson, three rails) and INA231 (Odroid XU3, one chip per rail). Both
// report power, not energy, so the base class integrates.

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {
namespace {

// One rail read from one or two files: power = file * scale, or voltage * current * scale.
class RailSensor final : public PowerSensor {
 public:
  RailSensor(Sysfs fs, std::string name, std::string power_file, std::string current_file, double scale,
             std::string note, Clock clock)
      : PowerSensor(std::move(clock)),
        fs_(std::move(fs)),
        name_(std::move(name)),
        file_(std::move(power_file)),
        current_(std::move(current_file)),
        scale_(scale),
        note_(std::move(note)) {}
  SensorInfo info() const override { return {name_, fs_.path(file_), false, note_}; }

 protected:
  Reading read() override {
    if (!current_.empty())
      return {static_cast<double>(fs_.readInt(file_)) * static_cast<double>(fs_.readInt(current_)) * scale_, std::nullopt};
    if (scale_ == 1.0) {  // the vendor INA231 driver prints watts as a decimal number
      const std::string text = fs_.readTrimmed(file_);
      try {
        std::size_t used = 0;
        const double w = std::stod(text, &used);
        if (used == text.size()) return {w, std::nullopt};
      } catch (const std::exception&) {
      }
      throw HardwareError(fmt::format("{} holds '{}', not watts; choose another sensor", fs_.path(file_), text));
    }
    return {static_cast<double>(fs_.readInt(file_)) * scale_, std::nullopt};
  }

 private:
  Sysfs fs_;
  std::string name_, file_, current_;
  double scale_;
  std::string note_;
};

// INA231 vendor sensors measure only once enabled; put the switch back as found when done.
class EnabledRailSensor final : public PowerSensor {
 public:
  EnabledRailSensor(Sysfs fs, std::string dir, std::string name, Clock clock)
      : PowerSensor(clock), fs_(fs), enable_(dir + "/enable") {
    was_enabled_ = fs_.readTrimmed(enable_) == "1";
    if (!was_enabled_) fs_.write(enable_, "1");
    rail_ = std::make_unique<RailSensor>(fs, std::move(name), dir + "/sensor_W", "", 1.0,
                                         "power (W, vendor INA231 driver), integrated", clock);
  }
  ~EnabledRailSensor() override {
    try {
      if (!was_enabled_) fs_.write(enable_, "0");
    } catch (...) {
    }
  }
  SensorInfo info() const override { return rail_->info(); }

 protected:
  Reading read() override { return {rail_->sample().watts, std::nullopt}; }

 private:
  Sysfs fs_;
  std::string enable_;
  bool was_enabled_ = false;
  std::unique_ptr<RailSensor> rail_;
};

std::string hwmonName(const Sysfs& fs, const std::string& dir) {
  return fs.tryRead(dir + "/name") ? fs.readTrimmed(dir + "/name") : "";
}

}  // namespace

std::vector<std::unique_ptr<PowerSensor>> makeIna3221Sensors(const std::string& root, PowerSensor::Clock clock) {
  Sysfs fs(root);
  std::vector<std::unique_ptr<PowerSensor>> sensors;
  // L4T: /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:deviceN/in_powerK_input (mW), rail_name_K.
  const std::string drv = "sys/bus/i2c/drivers/ina3221x";
  for (const auto& chip : fs.list(drv)) {
    for (const auto& dev : fs.list(drv + "/" + chip)) {
      if (dev.rfind("iio:device", 0) != 0) continue;
      const std::string dir = drv + "/" + chip + "/" + dev;
      for (int k = 0; k < 3; ++k) {
        const std::string file = fmt::format("{}/in_power{}_input", dir, k);
        if (!fs.exists(file)) continue;
        const std::string label_file = fmt::format("{}/rail_name_{}", dir, k);
        const std::string label = fs.exists(label_file) ? fs.readTrimmed(label_file) : fmt::format("{}.{}", chip, k);
        sensors.push_back(std::make_unique<RailSensor>(fs, "ina3221." + label, file, "", 1e-3,
                                                       "power (mW, L4T iio), integrated", clock));
      }
    }
  }
  // Mainline: hwmon "ina3221" with inK_input (mV) and currK_input (mA): P = V * I.
  for (const auto& h : fs.list("sys/class/hwmon")) {
    const std::string dir = "sys/class/hwmon/" + h;
    if (hwmonName(fs, dir) != "ina3221") continue;
    for (int k = 1; k <= 3; ++k) {
      const std::string in = fmt::format("{}/in{}_input", dir, k), curr = fmt::format("{}/curr{}_input", dir, k);
      if (!fs.exists(in) || !fs.exists(curr)) continue;
      const std::string label_file = fmt::format("{}/in{}_label", dir, k);
      const std::string label = fs.exists(label_file) ? fs.readTrimmed(label_file) : fmt::format("{}.{}", h, k);
      sensors.push_back(std::make_unique<RailSensor>(fs, "ina3221." + label, in, curr, 1e-6,
                                                     "power = in (mV) x curr (mA), hwmon, integrated", clock));
    }
  }
  return sensors;
}

std::vector<std::unique_ptr<PowerSensor>> makeIna231Sensors(const std::string& root, PowerSensor::Clock clock) {
  Sysfs fs(root);
  std::vector<std::unique_ptr<PowerSensor>> sensors;
  // Odroid vendor kernel: I2C addresses name the rails (FACTS section 4).
  const std::pair<const char*, const char*> rails[] = {{"0040", "A15"}, {"0041", "memory"}, {"0044", "GPU"}, {"0045", "A7"}};
  const std::string drv = "sys/bus/i2c/drivers/INA231";
  for (const auto& chip : fs.list(drv)) {
    const std::string dir = drv + "/" + chip;
    if (!fs.exists(dir + "/sensor_W")) continue;
    std::string rail = chip;
    for (const auto& [addr, name] : rails)
      if (chip.size() >= 4 && chip.compare(chip.size() - 4, 4, addr) == 0) rail = name;
    sensors.push_back(std::make_unique<EnabledRailSensor>(fs, dir, "ina231." + rail, clock));
  }
  for (const auto& h : fs.list("sys/class/hwmon")) {
    const std::string dir = "sys/class/hwmon/" + h;
    if (hwmonName(fs, dir) != "ina231" || !fs.exists(dir + "/power1_input")) continue;
    const std::string label = fs.exists(dir + "/label") ? fs.readTrimmed(dir + "/label") : h;
    sensors.push_back(std::make_unique<RailSensor>(fs, "ina231." + label, dir + "/power1_input", "", 1e-6,
                                                   "power (uW, hwmon), integrated", clock));
  }
  return sensors;
}

std::vector<std::unique_ptr<PowerSensor>> detectPowerSensors(const std::string& root, PowerSensor::Clock clock) {
  Sysfs fs(root);
  std::vector<std::unique_ptr<PowerSensor>> sensors;
  for (const auto& d : fs.list("sys/class/powercap")) {
    // Package-level domains only ("intel-rapl:0"), not their sub-zones ("intel-rapl:0:0") which they include.
    if (d.rfind("intel-rapl:", 0) != 0 || d.find(':', 11) != std::string::npos) continue;
    try {
      sensors.push_back(makeRaplSensor(root, d, clock));
    } catch (const HardwareError&) {
      // Unreadable counter (not root): `dyndnn hw` reports it through its own check.
    }
  }
  for (auto& s : makeIna3221Sensors(root, clock)) sensors.push_back(std::move(s));
  for (auto& s : makeIna231Sensors(root, clock)) sensors.push_back(std::move(s));
  return sensors;
}

}  // namespace dyndnn::hw
