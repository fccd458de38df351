// Load of the other processes: the runtime needs to know how much of the CPU is taken by someone else (a
// slowdown it cannot remove by switching sub-network), so our own CPU time is subtracted.

#include <map>
#include <sstream>
#include <utility>
#include <vector>

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

// The "cpuN" lines of /proc/stat: busy and total ticks per CPU number.
void parsePerCpu(const std::string& text, const std::string& path, std::vector<long long>& busy,
                 std::vector<long long>& total) {
  std::istringstream in(text);
  std::string line;
  busy.clear();
  total.clear();
  while (std::getline(in, line)) {
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream fields(line);
    std::string label;
    long long v[8] = {};
    fields >> label;
    for (int i = 0; i < 8 && fields >> v[i]; ++i) {
    }
    if (!fields) throw HardwareError(fmt::format("{}: cannot read the ticks of '{}'", path, label));
    const auto cpu = static_cast<std::size_t>(std::stoul(label.substr(3)));
    if (cpu >= busy.size()) {
      busy.resize(cpu + 1, 0);
      total.resize(cpu + 1, 0);
    }
    busy[cpu] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    total[cpu] = busy[cpu] + v[3] + v[4];
  }
  if (busy.empty()) throw HardwareError(fmt::format("{} has no per-CPU 'cpuN' lines", path));
}

// /proc/self/task/TID/stat: utime + stime (fields 14, 15) and the CPU it last ran on (field 39).
std::pair<long long, int> parseTaskTicks(const std::string& text, const std::string& path) {
  const auto close = text.rfind(')');
  if (close == std::string::npos) throw HardwareError(fmt::format("{} has no command name", path));
  std::istringstream in(text.substr(close + 1));
  std::string field;
  long long utime = 0, stime = 0;
  int cpu = -1;
  for (int i = 3; i <= 13; ++i) in >> field;
  in >> utime >> stime;
  for (int i = 16; i <= 38; ++i) in >> field;
  if (!(in >> cpu)) throw HardwareError(fmt::format("{}: cannot read utime/stime/processor", path));
  return {utime + stime, cpu};
}

}  // namespace

std::vector<double> CpuLoadSensor::samplePerCpu() {
  std::lock_guard<std::mutex> lock(mutex_);
  Sysfs fs(root_);
  std::vector<long long> busy, total;
  parsePerCpu(fs.read("proc/stat"), fs.path("proc/stat"), busy, total);
  std::vector<long long> ours(busy.size(), 0);  // this process's ticks per CPU since the last call
  std::map<std::string, long long> ticks;
  for (const auto& tid : fs.list("proc/self/task")) {
    const std::string rel = "proc/self/task/" + tid + "/stat";
    const auto text = fs.tryRead(rel);
    if (!text) continue;  // the thread ended since the listing
    const auto [t, cpu] = parseTaskTicks(*text, fs.path(rel));
    ticks[tid] = t;
    auto last = task_ticks_.find(tid);
    const long long delta = last == task_ticks_.end() ? t : t - last->second;  // a new thread: all of its time
    if (cpu >= 0 && static_cast<std::size_t>(cpu) < ours.size()) ours[static_cast<std::size_t>(cpu)] += delta;
  }
  std::vector<double> load(busy.size(), 0.0);
  if (!first_per_cpu_ && cpu_busy_.size() == busy.size())
    for (std::size_t c = 0; c < busy.size(); ++c) {
      const long long span = total[c] - cpu_total_[c];
      if (span <= 0) continue;
      const double others = static_cast<double>(busy[c] - cpu_busy_[c] - ours[c]) / static_cast<double>(span);
      load[c] = others < 0 ? 0 : (others > 1 ? 1 : others);  // the files are not read at one instant
    }
  first_per_cpu_ = false;
  cpu_busy_ = std::move(busy);
  cpu_total_ = std::move(total);
  task_ticks_ = std::move(ticks);
  return load;
}

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
