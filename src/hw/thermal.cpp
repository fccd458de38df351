// Temperatures from the thermal framework (millidegrees Celsius), for reports and thermal-aware policies.

#include "dyndnn/hw/sensors.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {

std::vector<Temperature> readTemperatures(const std::string& root) {
  Sysfs fs(root);
  std::vector<Temperature> temps;
  for (const auto& zone : fs.list("sys/class/thermal")) {
    if (zone.rfind("thermal_zone", 0) != 0) continue;
    const std::string dir = "sys/class/thermal/" + zone;
    const auto milli = fs.tryReadInt(dir + "/temp");  // some zones refuse reads (EINVAL/ENODATA) while off
    if (!milli) continue;
    temps.push_back({zone, fs.tryRead(dir + "/type") ? fs.readTrimmed(dir + "/type") : "", *milli / 1000.0});
  }
  return temps;
}

}  // namespace dyndnn::hw
