// Load of the other processes: the runtime needs to know how much of the CPU is taken by someone else (a
// slowdown it cannot remove by switching sub-network), so our own CPU time is subtracted.

#include <sstream>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {
namespace {

// "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (USER_HZ ticks); guest time is
// already counted in user, so it is not added again.
void parseProcStat(const std::string& text, const std::string& path, long long& busy, long long& total) {
  std::istringstream in(text);
  std::string label;
  long long v[8] = {};
  in >> label;
  for (int i = 0; i < 8 && in >> v[i]; ++i) {
  }
  if (label != "cpu" || !in) throw HardwareError(fmt::format("{} does not start with an aggregate 'cpu' line", path));
  busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  total = busy + v[3] + v[4];
}

// /proc/self/stat: fields 14 and 15 (utime, stime) come after the command name, which may contain spaces
// and parentheses, so count from the last ')'.
long long parseSelfTicks(const std::string& text, const std::string& path) {
  const auto close = text.rfind(')');
  if (close == std::string::npos) throw HardwareError(fmt::format("{} has no command name", path));
  std::istringstream in(text.substr(close + 1));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 13; ++i) in >> field;  // state (3) .. cmajflt (13)
  if (!(in >> utime >> stime)) throw HardwareError(fmt::format("{}: cannot read utime/stime", path));
  return utime + stime;
}

}  // namespace

CpuLoadSensor::CpuLoadSensor(const std::string& root) : root_(root) { sample(); }

double CpuLoadSensor::sample() {
  std::lock_guard<std::mutex> lock(mutex_);
  Sysfs fs(root_);
  long long busy = 0, total = 0;
  parseProcStat(fs.read("proc/stat"), fs.path("proc/stat"), busy, total);
  const long long self = parseSelfTicks(fs.read("proc/self/stat"), fs.path("proc/self/stat"));
  double load = 0;
  if (!first_ && total > last_total_) {
    const long long others = (busy - last_busy_) - (self - last_self_);
    load = static_cast<double>(others) / static_cast<double>(total - last_total_);
    load = load < 0 ? 0 : (load > 1 ? 1 : load);  // tick accounting is not atomic across the two files
  }
  first_ = false;
  last_busy_ = busy;
  last_total_ = total;
  last_self_ = self;
  return load;
}

}  // namespace dyndnn::hw
