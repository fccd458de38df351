#include "hw/fake_tree.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace dyndnn::hw::test {
namespace {

void makeDirs(const std::string& path) {
  for (std::size_t pos = 1; (pos = path.find('/', pos)) != std::string::npos; ++pos)
    ::mkdir(path.substr(0, pos).c_str(), 0755);
  ::mkdir(path.c_str(), 0755);
}

void removeAll(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") removeAll(path + "/" + n);
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

void walk(const std::string& root, const std::string& rel, std::map<std::string, std::string>& out) {
  DIR* d = ::opendir((root + "/" + rel).c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const auto& n : names) {
    if (n == "." || n == "..") continue;
    const std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st {};
    if (::lstat((root + "/" + r).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      walk(root, r, out);
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream in(root + "/" + r);
      std::stringstream s;
      s << in.rdbuf();
      out[r] = s.str();
    }
  }
}

std::string joinLevels(const std::vector<long long>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s + "\n";  // the kernel prints a trailing space before the newline
}

struct Policy {
  int index;
  std::vector<int> cpus;
  std::vector<long long> table;  // empty: no scaling_available_frequencies
  long long hw_min, hw_max, min, max, cur;
  std::string governor, governors;
  bool stats;
};

void addPolicy(FakeTree& t, const Policy& p) {
  const std::string d = fmt::format("sys/devices/system/cpu/cpufreq/policy{}", p.index);
  std::string cpus;
  for (int c : p.cpus) cpus += std::to_string(c) + " ";
  t.write(d + "/affected_cpus", cpus + "\n");
  t.write(d + "/related_cpus", cpus + "\n");
  t.write(d + "/cpuinfo_min_freq", fmt::format("{}\n", p.hw_min));
  t.write(d + "/cpuinfo_max_freq", fmt::format("{}\n", p.hw_max));
  t.write(d + "/cpuinfo_transition_latency", "140000\n");
  t.write(d + "/scaling_min_freq", fmt::format("{}\n", p.min));
  t.write(d + "/scaling_max_freq", fmt::format("{}\n", p.max));
  t.write(d + "/scaling_cur_freq", fmt::format("{}\n", p.cur));
  t.write(d + "/scaling_governor", p.governor + "\n");
  t.write(d + "/scaling_available_governors", p.governors + "\n");
  t.write(d + "/scaling_setspeed", "<unsupported>\n");
  if (!p.table.empty()) t.write(d + "/scaling_available_frequencies", joinLevels(p.table));
  if (p.stats) {
    std::string tis;
    for (auto f : p.table) tis += fmt::format("{} {}\n", f, 1000 + f % 977);
    t.write(d + "/stats/time_in_state", tis);
  }
  for (int c : p.cpus) {
    t.symlink(fmt::format("sys/devices/system/cpu/cpufreq/policy{}", p.index),
              fmt::format("sys/devices/system/cpu/cpu{}/cpufreq", c));
    t.write(fmt::format("sys/devices/system/cpu/cpu{}/topology/core_id", c), fmt::format("{}\n", c));
  }
}

std::vector<long long> range(long long from, long long to, long long step) {
  std::vector<long long> v;
  for (long long f = from; f <= to; f += step) v.push_back(f);
  return v;
}

}  // namespace

FakeTree::FakeTree() {
  char tmpl[] = "/tmp/dyndnn-hw-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  ::chmod(root_.c_str(), 0755);  // runAsNobody must be able to walk in
}

FakeTree::~FakeTree() { removeAll(root_); }

void FakeTree::write(const std::string& rel, const std::string& content) {
  const std::string p = path(rel);
  makeDirs(p.substr(0, p.rfind('/')));
  std::ofstream out(p, std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + p);
}

std::string FakeTree::read(const std::string& rel) const {
  std::ifstream in(path(rel));
  if (!in) throw std::runtime_error("cannot read " + path(rel));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void FakeTree::symlink(const std::string& target_rel, const std::string& link_rel) {
  const std::string link = path(link_rel);
  makeDirs(link.substr(0, link.rfind('/')));
  if (::symlink(path(target_rel).c_str(), link.c_str()) != 0) throw std::runtime_error("symlink failed: " + link);
}

void FakeTree::chmod(const std::string& rel, int mode) { ::chmod(path(rel).c_str(), static_cast<mode_t>(mode)); }

std::map<std::string, std::string> FakeTree::snapshot() const {
  std::map<std::string, std::string> out;
  walk(root_, "", out);
  return out;
}

void buildXavierNx(FakeTree& t) {
  // Carmel: 76.8 MHz steps from 115200 kHz up to 1881600, plus the 1907200 top step (nvpmodel 15W 2-core).
  auto table = range(115200, 1881600, 76800);
  table.push_back(1907200);
  const std::string governors = "interactive conservative ondemand userspace powersave performance schedutil";
  for (int p : {0, 2, 4})
    addPolicy(t, {p, {p, p + 1}, table, 115200, 1907200, 1190400, 1420800, 1420800, "schedutil", governors, true});
  t.write("sys/devices/system/cpu/online", "0-5\n");
  for (int c = 0; c < 6; ++c)
    t.write(fmt::format("sys/devices/system/cpu/cpu{}/topology/cluster_id", c), fmt::format("{}\n", c / 2));

  const std::string gpu = "sys/devices/17000000.gv11b/devfreq/17000000.gv11b";
  const std::vector<long long> gpu_table = {114750000, 204000000, 306000000, 408000000, 510000000,
                                            599250000, 701250000, 752250000, 803250000, 854250000,
                                            905250000, 956250000, 1007250000, 1058250000, 1109250000};
  t.write(gpu + "/available_frequencies", joinLevels(gpu_table));
  t.write(gpu + "/available_governors", "wmark_active wmark_simple nvhost_podgov userspace performance simple_ondemand\n");
  t.write(gpu + "/governor", "nvhost_podgov\n");
  t.write(gpu + "/min_freq", "114750000\n");
  t.write(gpu + "/max_freq", "1109250000\n");
  t.write(gpu + "/cur_freq", "306000000\n");
  t.write(gpu + "/userspace/set_freq", "undefined\n");  // the kernel creates it with the userspace governor

  const std::string ina = "sys/bus/i2c/drivers/ina3221x/7-0040/iio:device0";
  t.write(ina + "/rail_name_0", "VDD_IN\n");
  t.write(ina + "/rail_name_1", "VDD_CPU_GPU_CV\n");
  t.write(ina + "/rail_name_2", "VDD_SOC\n");
  t.write(ina + "/in_power0_input", "4872\n");
  t.write(ina + "/in_power1_input", "1540\n");
  t.write(ina + "/in_power2_input", "1180\n");
  t.write("sys/class/thermal/thermal_zone0/type", "CPU-therm\n");
  t.write("sys/class/thermal/thermal_zone0/temp", "41500\n");
  t.write("sys/class/thermal/thermal_zone1/type", "GPU-therm\n");
  t.write("sys/class/thermal/thermal_zone1/temp", "40000\n");
}

void buildOdroidXu3(FakeTree& t) {
  const std::string governors = "conservative userspace powersave ondemand performance schedutil";
  addPolicy(t, {0, {0, 1, 2, 3}, range(200000, 1400000, 100000), 200000, 1400000, 200000, 1400000, 1000000,
                "ondemand", governors, true});
  addPolicy(t, {4, {4, 5, 6, 7}, range(200000, 2000000, 100000), 200000, 2000000, 200000, 2000000, 1800000,
                "ondemand", governors, true});
  t.write("sys/devices/system/cpu/online", "0-7\n");
  for (int c = 0; c < 8; ++c)
    t.write(fmt::format("sys/devices/system/cpu/cpu{}/topology/cluster_id", c), c < 4 ? "0\n" : "1\n");
  // Vendor-kernel INA231 sensors (W, after writing 1 to enable) at 0x40 A15, 0x41 memory, 0x44 GPU, 0x45 A7.
  const char* addrs[] = {"3-0040", "3-0041", "3-0044", "3-0045"};
  const char* watts[] = {"1.069000\n", "0.212000\n", "0.080000\n", "0.201500\n"};
  for (int i = 0; i < 4; ++i) {
    t.write(fmt::format("sys/bus/i2c/drivers/INA231/{}/enable", addrs[i]), "0\n");
    t.write(fmt::format("sys/bus/i2c/drivers/INA231/{}/sensor_W", addrs[i]), watts[i]);
  }
  t.write("sys/class/thermal/thermal_zone0/type", "cpu0-thermal\n");
  t.write("sys/class/thermal/thermal_zone0/temp", "57000\n");
}

void buildIntelLaptop(FakeTree& t) {
  for (int p = 0; p < 4; ++p)
    addPolicy(t, {p, {p}, {}, 400000, 4700000, 400000, 4700000, 2100000, "powersave", "performance powersave", false});
  t.write("sys/devices/system/cpu/online", "0-3\n");
  const std::string rapl = "sys/class/powercap/intel-rapl:0";
  t.write(rapl + "/name", "package-0\n");
  t.write(rapl + "/energy_uj", "261843000000\n");
  t.write(rapl + "/max_energy_range_uj", "262143328850\n");
  t.write("sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
  t.write("sys/class/thermal/thermal_zone0/temp", "45000\n");
  t.write("proc/stat", "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n");
  t.write("proc/self/stat", "4242 (app) R 1 1 1 0 -1 0 0 0 0 0 30 10 0 0 20 0 1 0 100 0 0\n");
}

int runAsNobody(int (*body)(const std::string&), const std::string& arg) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(99);
    ::_exit(body(arg));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

}  // namespace dyndnn::hw::test
