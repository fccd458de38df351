// big/LITTLE detection. cpu_capacity is the kernel's own answer (arm64 and recent x86 hybrids); the
// frequency midpoint rule is ncnn's fallback for kernels without it; cluster_id alone cannot say which
// cluster is big, so it is the last resort.

#include <algorithm>
#include <map>

#include "dyndnn/hw/affinity.hpp"
#include "sysfs.hpp"

namespace dyndnn::hw {
namespace {

std::string cpuDir(int cpu) { return "sys/devices/system/cpu/cpu" + std::to_string(cpu); }

// Splits `online` by a per-CPU value: CPUs below the midpoint of min and max are LITTLE.
bool splitByMidpoint(const std::map<int, std::int64_t>& value, CpuTopology& t) {
  if (value.size() != t.online.size()) return false;
  std::int64_t lo = value.begin()->second, hi = lo;
  for (const auto& [cpu, v] : value) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo == hi) return false;
  const double mid = (static_cast<double>(lo) + static_cast<double>(hi)) / 2;
  for (const auto& [cpu, v] : value) (static_cast<double>(v) < mid ? t.little : t.big).push_back(cpu);
  return true;
}

}  // namespace

CpuTopology detectCpuTopology(const std::string& root) {
  Sysfs fs(root);
  CpuTopology t;
  if (auto online = fs.tryRead("sys/devices/system/cpu/online")) {
    t.online = parseCpuList(*online);
  } else {
    for (const auto& name : fs.list("sys/devices/system/cpu"))
      if (name.size() > 3 && name.rfind("cpu", 0) == 0 &&
          std::all_of(name.begin() + 3, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
        t.online.push_back(std::stoi(name.substr(3)));
    std::sort(t.online.begin(), t.online.end());
  }
  std::map<int, std::int64_t> capacity, max_freq, cluster;
  for (int cpu : t.online) {
    if (auto v = fs.tryReadInt(cpuDir(cpu) + "/cpu_capacity")) capacity[cpu] = *v;
    if (auto v = fs.tryReadInt(cpuDir(cpu) + "/cpufreq/cpuinfo_max_freq")) max_freq[cpu] = *v;
    if (auto v = fs.tryReadInt(cpuDir(cpu) + "/topology/cluster_id")) cluster[cpu] = *v;
  }
  if (!t.online.empty()) {
    if (splitByMidpoint(capacity, t)) {
      t.method = "cpu_capacity";
      return t;
    }
    if (splitByMidpoint(max_freq, t)) {
      t.method = "max frequency";
      return t;
    }
    if (capacity.empty() && max_freq.empty() && splitByMidpoint(cluster, t)) {
      t.method = "cluster_id";
      return t;
    }
  }
  t.big = t.online;
  t.method = "uniform";
  return t;
}

std::int64_t cpuMask(const std::vector<int>& cpus) {
  std::int64_t mask = 0;
  for (int c : cpus)
    if (c >= 0 && c < 63) mask |= std::int64_t{1} << c;
  return mask;
}

std::vector<int> cpusOfMask(std::int64_t mask) {
  std::vector<int> cpus;
  for (int c = 0; c < 63; ++c)
    if (mask & (std::int64_t{1} << c)) cpus.push_back(c);
  return cpus;
}

}  // namespace dyndnn::hw
