// Sensors on fake trees with an injected clock, so energy sums are checked exactly (no timing in tests).

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "hw/fake_tree.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;
using test::FakeTree;

TEST_CASE("RAPL: energy from the counter - power from energy over time - wrap-around handled") {
  FakeTree t;
  test::buildIntelLaptop(t);
  double now = 100.0;
  auto rapl = makeRaplSensor(t.root(), "intel-rapl:0", [&] { return now; });
  CHECK(rapl->info().name == "rapl.package-0");
  CHECK_FALSE(rapl->info().simulated);
  CHECK(rapl->sample().joules == 0.0);  // origin
  const std::string e = "sys/class/powercap/intel-rapl:0/energy_uj";
  t.write(e, "262143000000\n");  // +300 J in 20 s
  now = 120.0;
  auto s = rapl->sample();
  CHECK(s.joules == Approx(300.0));
  CHECK(s.watts == Approx(15.0));
  t.write(e, "171150\n");  // wrapped at max_energy_range_uj 262143328850: +328850 + 171150 uJ = 0.5 J
  now = 121.0;
  s = rapl->sample();
  CHECK(s.joules == Approx(300.5));
  CHECK(s.watts == Approx(0.5));
  CHECK_THROWS_WITH(makeRaplSensor(t.root(), "intel-rapl:7"), Catch::Contains("no RAPL domain"));
  t.write(e, "garbage\n");
  CHECK_THROWS_WITH(rapl->sample(), Catch::Contains("energy_uj") && Catch::Contains("'garbage'"));
  CHECK(detectPowerSensors(t.root()).empty());  // the broken counter is skipped, not fatal
}

TEST_CASE("INA3221 on Xavier NX (L4T iio - mW) and mainline hwmon (mV x mA) - energy integrates power") {
  FakeTree t;
  test::buildXavierNx(t);
  double now = 0.0;
  auto rails = makeIna3221Sensors(t.root(), [&] { return now; });
  REQUIRE(rails.size() == 3);
  CHECK(rails[0]->info().name == "ina3221.VDD_IN");
  CHECK(rails[2]->info().name == "ina3221.VDD_SOC");
  CHECK(rails[0]->sample().watts == Approx(4.872));
  // Power rises linearly to 6.872 W over 2 s: the trapezoid rule is exact, 2 s x 5.872 W.
  t.write("sys/bus/i2c/drivers/ina3221x/7-0040/iio:device0/in_power0_input", "6872\n");
  now = 2.0;
  CHECK(rails[0]->sample().joules == Approx(11.744));

  FakeTree m;
  m.write("sys/class/hwmon/hwmon3/name", "ina3221\n");
  m.write("sys/class/hwmon/hwmon3/in1_label", "VDD_IN\n");
  m.write("sys/class/hwmon/hwmon3/in1_input", "5000\n");   // mV
  m.write("sys/class/hwmon/hwmon3/curr1_input", "1200\n");  // mA
  m.write("sys/class/hwmon/hwmon2/name", "acpitz\n");
  auto hw = makeIna3221Sensors(m.root());
  REQUIRE(hw.size() == 1);
  CHECK(hw[0]->info().name == "ina3221.VDD_IN");
  CHECK(hw[0]->sample().watts == Approx(6.0));
}

TEST_CASE("INA231 on Odroid XU3: rails named by address - enabled first and switched back off after") {
  FakeTree t;
  test::buildOdroidXu3(t);
  const std::string a15 = "sys/bus/i2c/drivers/INA231/3-0040/";
  {
    auto rails = makeIna231Sensors(t.root());
    REQUIRE(rails.size() == 4);
    CHECK(rails[0]->info().name == "ina231.A15");
    CHECK(rails[3]->info().name == "ina231.A7");
    CHECK(t.read(a15 + "enable") == "1");
    CHECK(rails[0]->sample().watts == Approx(1.069));
    t.write(a15 + "sensor_W", "n/a\n");
    CHECK_THROWS_WITH(rails[0]->sample(), Catch::Contains("sensor_W") && Catch::Contains("not watts"));
  }
  CHECK(t.read(a15 + "enable") == "0");

  FakeTree m;
  m.write("sys/class/hwmon/hwmon0/name", "ina231\n");
  m.write("sys/class/hwmon/hwmon0/power1_input", "1070000\n");  // uW
  auto hw = makeIna231Sensors(m.root());
  REQUIRE(hw.size() == 1);
  CHECK(hw[0]->sample().watts == Approx(1.07));
}

TEST_CASE("CPU load of other processes: /proc/stat busy time minus our own") {
  FakeTree t;
  test::buildIntelLaptop(t);
  CpuLoadSensor load(t.root());
  // 100 more ticks in total, 60 of them busy, 20 of which are ours: others used 40%.
  t.write("proc/stat", "cpu  150 0 60 830 60 0 0 0 0 0\n");
  t.write("proc/self/stat", "4242 (my app (x)) R 1 1 1 0 -1 0 0 0 0 0 45 15 0 0 20 0 1 0 100 0 0\n");
  CHECK(load.sample() == Approx(0.4));
  CHECK(load.sample() == 0.0);  // nothing happened since
  t.write("proc/stat", "garbage\n");
  CHECK_THROWS_WITH(load.sample(), Catch::Contains("proc/stat"));
  CpuLoadSensor here;  // the real /proc works too
  const double real = here.sample();
  CHECK(real >= 0.0);
  CHECK(real <= 1.0);
}

namespace {
// A /proc/self/task/TID/stat line: utime, stime (fields 14, 15) and the CPU it last ran on (field 39).
std::string taskStat(int tid, long utime, long stime, int cpu) {
  std::string s = std::to_string(tid) + " (worker (1)) S";
  for (int f = 4; f <= 13; ++f) s += " 0";
  s += " " + std::to_string(utime) + " " + std::to_string(stime);
  for (int f = 16; f <= 38; ++f) s += " 0";
  return s + " " + std::to_string(cpu) + " 0 0\n";
}
}  // namespace

TEST_CASE("CPU load of other processes per CPU: each CPU's busy time minus our threads on it") {
  FakeTree t;
  t.write("proc/stat", "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 100 0 0 900 0 0 0 0 0 0\ncpu1 100 0 0 900 0 0 0 0 0 0\n");
  t.write("proc/self/stat", "4242 (app) R 1 1 1 0 -1 0 0 0 0 0 30 10 0 0 20 0 1 0 100 0 0\n");
  t.write("proc/self/task/4242/stat", taskStat(4242, 10, 0, 0));
  t.write("proc/self/task/4243/stat", taskStat(4243, 10, 0, 1));
  CpuLoadSensor load(t.root());
  CHECK(load.samplePerCpu() == std::vector<double>{0.0, 0.0});  // the first call has nothing to compare with
  // 100 ticks on each CPU. cpu0: 90 busy, 80 of them our thread 4242 (pinned there): others 10%. cpu1: 100 busy,
  // our 4243 ran 5 of them: a competitor took 95%. A thread born since (4244, on cpu1) counts with all of its time.
  t.write("proc/stat", "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 190 0 0 910 0 0 0 0 0 0\ncpu1 195 0 5 900 0 0 0 0 0 0\n");
  t.write("proc/self/task/4242/stat", taskStat(4242, 60, 30, 0));
  t.write("proc/self/task/4243/stat", taskStat(4243, 12, 1, 1));
  t.write("proc/self/task/4244/stat", taskStat(4244, 2, 0, 1));
  auto others = load.samplePerCpu();
  REQUIRE(others.size() == 2);
  CHECK(others[0] == Approx(0.10));
  CHECK(others[1] == Approx(0.95));
  // The competitor leaves: cpu1 idle but for us.
  t.write("proc/stat", "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 190 0 0 1010 0 0 0 0 0 0\ncpu1 215 0 5 980 0 0 0 0 0 0\n");
  t.write("proc/self/task/4244/stat", taskStat(4244, 22, 0, 1));
  others = load.samplePerCpu();
  CHECK(others[0] == Approx(0.0));
  CHECK(others[1] == Approx(0.0));
  t.write("proc/stat", "cpu  1 2 3\n");
  CHECK_THROWS_WITH(load.samplePerCpu(), Catch::Contains("no per-CPU"));
  CpuLoadSensor here;  // the real /proc
  here.samplePerCpu();
  for (double x : here.samplePerCpu()) {
    CHECK(x >= 0.0);
    CHECK(x <= 1.0);
  }
}

TEST_CASE("temperatures from thermal zones - in degrees Celsius") {
  FakeTree t;
  test::buildXavierNx(t);
  t.write("sys/class/thermal/thermal_zone2/type", "PMIC-Die\n");
  t.write("sys/class/thermal/thermal_zone2/temp", "not-now\n");  // unreadable zones are skipped
  const auto temps = readTemperatures(t.root());
  REQUIRE(temps.size() == 2);
  CHECK(temps[0].type == "CPU-therm");
  CHECK(temps[0].celsius == Approx(41.5));
  CHECK(temps[1].zone == "thermal_zone1");
}
