#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "hw/sysfs.hpp"
#include "hw/fake_tree.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;
using test::FakeTree;

TEST_CASE("sysfs paths are relative to the root - with or without a leading slash") {
  FakeTree t;
  t.write("sys/devices/system/cpu/online", "0-3\n");
  Sysfs fs(t.root());
  CHECK(fs.path("/sys/devices/system/cpu/online") == t.root() + "/sys/devices/system/cpu/online");
  CHECK(fs.readTrimmed("sys/devices/system/cpu/online") == "0-3");
  CHECK(fs.read("/sys/devices/system/cpu/online") == "0-3\n");
  CHECK_THROWS_AS(Sysfs(t.root() + "/nonexistent"), HardwareError);
}

TEST_CASE("sysfs read errors name the path and the remedy") {
  FakeTree t;
  t.write("sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq", "garbage\n");
  Sysfs fs(t.root());
  CHECK_THROWS_WITH(fs.readInt("sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq"),
                    Catch::Contains("policy0/scaling_cur_freq") && Catch::Contains("'garbage'") &&
                        Catch::Contains("choose another backend"));
  CHECK_THROWS_WITH(fs.read("sys/missing"), Catch::Contains(t.root() + "/sys/missing") && Catch::Contains("does not exist"));
  CHECK_FALSE(fs.tryReadInt("sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq"));
  t.write("sys/x/list", "1 2 x 4\n");
  CHECK_THROWS_WITH(fs.readInts("sys/x/list"), Catch::Contains("'x'"));
}

TEST_CASE("sysfs writes only known knob files") {
  FakeTree t;
  t.write("etc/passwd", "root:x:0:0\n");
  t.write("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", "1000\n");
  t.write("sys/devices/system/cpu/cpufreq/policy0/cpuinfo_max_freq", "1000\n");
  Sysfs fs(t.root());
  CHECK_THROWS_WITH(fs.write("etc/passwd", "x"), Catch::Contains("not a known knob"));
  CHECK_THROWS_WITH(fs.write("sys/devices/system/cpu/cpufreq/policy0/cpuinfo_max_freq", "5"),
                    Catch::Contains("not a known knob"));
  CHECK_THROWS_AS(fs.write("sys/devices/system/cpu/cpufreq/policy0/../../../../../etc/scaling_max_freq", "5"),
                  HardwareError);
  CHECK(t.read("etc/passwd") == "root:x:0:0\n");
  CHECK(t.read("sys/devices/system/cpu/cpufreq/policy0/cpuinfo_max_freq") == "1000\n");
  fs.write("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", "900");
  CHECK(t.read("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq") == "900");

  CHECK(isKnobPath("/sys/devices/system/cpu/cpu3/cpufreq/scaling_setspeed"));
  CHECK(isKnobPath("sys/devices/17000000.gv11b/devfreq/17000000.gv11b/userspace/set_freq"));
  CHECK(isKnobPath("sys/bus/i2c/drivers/INA231/3-0040/enable"));
  CHECK_FALSE(isKnobPath("sys/devices/17000000.gv11b/devfreq/17000000.gv11b/available_frequencies"));
  CHECK_FALSE(isKnobPath("sys/class/powercap/intel-rapl:0/energy_uj"));
  CHECK_FALSE(isKnobPath("proc/sys/kernel/core_pattern"));
}

namespace {
int writeReadOnlyKnob(const std::string& root) {
  try {
    Sysfs(root).write("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", "900");
    return 1;  // must not succeed
  } catch (const HardwareError& e) {
    const std::string m = e.what();
    return m.find("permission denied") != std::string::npos && m.find("policy0/scaling_max_freq") != std::string::npos &&
                   m.find("run as root") != std::string::npos
               ? 0
               : 2;
  }
}
}  // namespace

TEST_CASE("writing a read-only knob is a HardwareError naming the path and the remedy") {
  FakeTree t;
  t.write("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", "1000\n");
  t.chmod("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", 0444);
  CHECK(test::runAsNobody(writeReadOnlyKnob, t.root()) == 0);
  CHECK(t.read("sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq") == "1000\n");
}

TEST_CASE("kernel CPU lists") {
  CHECK(parseCpuList("0-3,6,8-9\n") == std::vector<int>{0, 1, 2, 3, 6, 8, 9});
  CHECK(parseCpuList("") == std::vector<int>{});
  CHECK(formatCpuList({4, 5, 6, 7, 0, 2}) == "0,2,4-7");
  CHECK_THROWS_AS(parseCpuList("3-1"), HardwareError);
  CHECK_THROWS_AS(parseCpuList("a"), HardwareError);
}
