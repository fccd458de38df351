// RAPL powercap energy counter (Intel, and AMD Zen through intel_rapl_msr). The counter wraps at
// max_energy_range_uj, within minutes at high power, so deltas are taken modulo that range.

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {
namespace {

class RaplSensor final : public PowerSensor {
 public:
  RaplSensor(const std::string& root, const std::string& domain, Clock clock)
      : PowerSensor(std::move(clock)), fs_(root), dir_("sys/class/powercap/" + domain) {
    if (!fs_.isDirectory(dir_))
      throw HardwareError(fmt::format("no RAPL domain at {}: not an Intel/AMD machine or the intel_rapl driver is not "
                                      "loaded (modprobe intel_rapl_msr)",
                                      fs_.path(dir_)));
    range_ = fs_.readInt(dir_ + "/max_energy_range_uj");
    if (range_ <= 0) throw HardwareError(fmt::format("{}/max_energy_range_uj is not positive", fs_.path(dir_)));
    name_ = fs_.tryRead(dir_ + "/name") ? fs_.readTrimmed(dir_ + "/name") : domain;
    try {
      last_ = fs_.readInt(dir_ + "/energy_uj");
    } catch (const HardwareError& e) {
      throw HardwareError(std::string(e.what()) + " (energy_uj is root-only since Linux 5.10: run as root or add a "
                                                  "udev rule)");
    }
  }
  SensorInfo info() const override {
    return {"rapl." + name_, fs_.path(dir_ + "/energy_uj"), false, "energy counter (uJ), wraps at max_energy_range_uj"};
  }

 protected:
  Reading read() override {
    const std::int64_t now = fs_.readInt(dir_ + "/energy_uj");
    const std::int64_t delta = now >= last_ ? now - last_ : (range_ - last_) + now;
    last_ = now;
    return {std::nullopt, static_cast<double>(delta) / 1e6};
  }

 private:
  Sysfs fs_;
  std::string dir_, name_;
  std::int64_t range_ = 0, last_ = 0;
};

}  // namespace

std::unique_ptr<PowerSensor> makeRaplSensor(const std::string& root, const std::string& domain,
                                            PowerSensor::Clock clock) {
  return std::make_unique<RaplSensor>(root, domain, std::move(clock));
}

}  // namespace dyndnn::hw
