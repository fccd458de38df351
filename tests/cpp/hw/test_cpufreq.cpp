#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/governor.hpp"
#include "hw/frequency_domain.hpp"
#include "hw/fake_tree.hpp"
#include "hw/snapshot_diff.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;
using test::changedFiles;
using test::FakeTree;
using Files = std::map<std::string, std::string>;

namespace {
const std::string P = "sys/devices/system/cpu/cpufreq/";
GovernorOptions at(const FakeTree& t, GovernorOptions::FrequencyMode mode = GovernorOptions::FrequencyMode::Auto) {
  GovernorOptions o;
  o.root = t.root();
  o.frequency_mode = mode;
  return o;
}
GovernorOptions at_root(const std::string& root) {
  GovernorOptions o;
  o.root = root;
  o.frequency_mode = GovernorOptions::FrequencyMode::Clamp;
  return o;
}
}  // namespace

TEST_CASE("cpufreq on Xavier NX: userspace governor + scaling_setspeed - exact writes and exact restore") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  auto gov = makeCpufreqGovernor(at(t));
  const auto knobs = gov->knobs();
  REQUIRE(knobs.size() == 3);
  CHECK(knobs[0].name == "cpufreq.policy0");
  CHECK(knobs[2].name == "cpufreq.policy4");
  CHECK(knobs[1].unit == "kHz");
  REQUIRE(knobs[1].levels.size() == 25);
  CHECK(knobs[1].levels.front() == 115200);
  CHECK(knobs[1].levels.back() == 1907200);
  CHECK_THAT(knobs[1].note, Catch::Contains("userspace governor") && Catch::Contains("CPUs 2-3"));
  CHECK(gov->current().at("cpufreq.policy2") == 1420800);

  gov->apply({{"cpufreq.policy2", 1190400}});
  CHECK(changedFiles(original, t.snapshot()) ==
        Files{{P + "policy2/scaling_governor", "userspace"}, {P + "policy2/scaling_setspeed", "1190400"}});
  CHECK(gov->current().at("cpufreq.policy2") == 1190400);
  CHECK(gov->applied() == HardwareState{{"cpufreq.policy2", 1190400}});

  gov->apply({{"cpufreq.policy2", 1907200}, {"cpufreq.policy4", 115200}});
  CHECK(changedFiles(original, t.snapshot()) ==
        Files{{P + "policy2/scaling_governor", "userspace"}, {P + "policy2/scaling_setspeed", "1907200"},
              {P + "policy4/scaling_governor", "userspace"}, {P + "policy4/scaling_setspeed", "115200"}});

  gov->restore();
  CHECK(t.snapshot() == original);  // byte for byte, trailing newlines included
  CHECK(gov->applied().empty());
}

TEST_CASE("cpufreq clamp mode writes min and max in an order the kernel accepts - and restores them") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  {
    auto gov = makeCpufreqGovernor(at(t, GovernorOptions::FrequencyMode::Clamp));
    CHECK_THAT(gov->knobs()[0].note, Catch::Contains("clamps scaling_min_freq = scaling_max_freq"));
    gov->apply({{"cpufreq.policy0", 729600}});  // below the current min 1190400: min first, then max
    CHECK(changedFiles(original, t.snapshot()) ==
          Files{{P + "policy0/scaling_min_freq", "729600"}, {P + "policy0/scaling_max_freq", "729600"}});
    gov->apply({{"cpufreq.policy0", 1881600}});  // above: max first, then min
    CHECK(changedFiles(original, t.snapshot()) ==
          Files{{P + "policy0/scaling_min_freq", "1881600"}, {P + "policy0/scaling_max_freq", "1881600"}});
  }  // the destructor restores
  CHECK(t.snapshot() == original);
}

TEST_CASE("cpufreq on an intel_pstate laptop: no table - no userspace - levels are the hardware limits") {
  FakeTree t;
  test::buildIntelLaptop(t);
  const Files original = t.snapshot();
  auto gov = makeCpufreqGovernor(at(t));
  const auto knobs = gov->knobs();
  REQUIRE(knobs.size() == 4);
  CHECK(knobs[3].levels == std::vector<std::int64_t>{400000, 4700000});
  CHECK_THAT(knobs[3].note, Catch::Contains("cpuinfo_min_freq and cpuinfo_max_freq"));
  gov->apply({{"cpufreq.policy3", 400000}});
  CHECK(changedFiles(original, t.snapshot()) == Files{{P + "policy3/scaling_max_freq", "400000"}});
  CHECK_THROWS_WITH(makeCpufreqGovernor(at(t, GovernorOptions::FrequencyMode::Userspace)),
                    Catch::Contains("userspace governor is not offered"));
  gov->restore();
  CHECK(t.snapshot() == original);
}

TEST_CASE("cpufreq on Odroid XU3: big and LITTLE clusters are separate policies") {
  FakeTree t;
  test::buildOdroidXu3(t);
  const Files original = t.snapshot();
  auto gov = makeCpufreqGovernor(at(t));
  const auto knobs = gov->knobs();
  REQUIRE(knobs.size() == 2);
  CHECK(knobs[0].levels.size() == 13);  // A7 200..1400 MHz
  CHECK(knobs[1].levels.size() == 19);  // A15 200..2000 MHz
  CHECK_THAT(knobs[1].note, Catch::Contains("CPUs 4-7"));
  gov->apply({{"cpufreq.policy0", 600000}, {"cpufreq.policy4", 1800000}});
  CHECK(t.read(P + "policy0/scaling_setspeed") == "600000");
  CHECK(t.read(P + "policy4/scaling_setspeed") == "1800000");

  // Applying the same state again touches nothing: prove it by planting a marker the write would erase.
  t.write(P + "policy4/scaling_setspeed", "marker");
  gov->apply({{"cpufreq.policy0", 600000}, {"cpufreq.policy4", 1800000}});
  CHECK(t.read(P + "policy4/scaling_setspeed") == "marker");
  t.write(P + "policy4/scaling_setspeed", "1800000");
  gov->restore();
  CHECK(t.snapshot() == original);
}

TEST_CASE("levels fall back to stats/time_in_state when there is no table") {
  FakeTree t;
  test::buildOdroidXu3(t);
  ::unlink(t.path(P + "policy0/scaling_available_frequencies").c_str());
  auto gov = makeCpufreqGovernor(at(t));
  CHECK(gov->knobs()[0].levels.size() == 13);
  CHECK_THAT(gov->knobs()[0].note, Catch::Contains("stats/time_in_state"));
  CHECK(parseFrequencyStats("*  510000000:  0 1 5\n  114750000: 3 0 1\n   From  :   To\n  Total transition : 9\n",
                            true) == std::vector<std::int64_t>{114750000, 510000000});
}

TEST_CASE("cpufreq refuses levels the hardware does not offer and unknown knobs - changing nothing") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  auto gov = makeCpufreqGovernor(at(t));
  CHECK_THROWS_WITH(gov->apply({{"cpufreq.policy0", 1000000}}),
                    Catch::Contains("does not offer 1000000 kHz") && Catch::Contains("1907200"));
  CHECK_THROWS_AS(gov->apply({{"cpufreq.policy0", 115200}, {"cpufreq.policy9", 115200}}), InvalidArgument);
  CHECK(t.snapshot() == original);
}

TEST_CASE("a failure half-way through a multi-knob apply rolls back what was already changed") {
  FakeTree t;
  test::buildXavierNx(t);
  auto gov = makeCpufreqGovernor(at(t));
  gov->apply({{"cpufreq.policy0", 806400}});
  const Files before = t.snapshot();
  // policy4's set-speed file cannot be written (a directory in its place): policy0 and policy2 go first.
  ::unlink(t.path(P + "policy4/scaling_setspeed").c_str());
  ::mkdir(t.path(P + "policy4/scaling_setspeed").c_str(), 0755);
  const Files broken = t.snapshot();
  CHECK_THROWS_WITH(gov->apply({{"cpufreq.policy0", 115200}, {"cpufreq.policy2", 115200}, {"cpufreq.policy4", 115200}}),
                    Catch::Contains("policy4/scaling_setspeed") && Catch::Contains("rolled back"));
  // Back to the state before the call, not to the original: policy0 still at 806400.
  auto after = t.snapshot();
  after.erase(P + "policy4/scaling_governor");  // changed, then restored: compare separately
  auto expected = broken;
  expected.erase(P + "policy4/scaling_governor");
  CHECK(changedFiles(expected, after) == Files{});
  CHECK(t.read(P + "policy4/scaling_governor") == "schedutil\n");
  CHECK(gov->applied() == HardwareState{{"cpufreq.policy0", 806400}});
  (void)before;
}

TEST_CASE("no cpufreq (like this VM's fake equivalent) is said plainly") {
  FakeTree t;
  t.write("sys/devices/system/cpu/online", "0-1\n");
  CHECK_THROWS_WITH(makeCpufreqGovernor(at(t)), Catch::Contains("no cpufreq policy") && Catch::Contains("VM"));
}

TEST_CASE("devfreq GPU on Xavier NX: userspace/set_freq in Hz - restored exactly") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  const std::string G = "sys/devices/17000000.gv11b/devfreq/17000000.gv11b/";
  auto gov = makeDevfreqGovernor(at(t));
  const auto knobs = gov->knobs();
  REQUIRE(knobs.size() == 1);
  CHECK(knobs[0].name == "devfreq.gpu");
  CHECK(knobs[0].unit == "Hz");
  CHECK(knobs[0].levels.size() == 15);
  CHECK(gov->current().at("devfreq.gpu") == 306000000);
  gov->apply({{"devfreq.gpu", 599250000}});
  CHECK(changedFiles(original, t.snapshot()) ==
        Files{{G + "governor", "userspace"}, {G + "userspace/set_freq", "599250000"}});
  CHECK(gov->current().at("devfreq.gpu") == 599250000);
  gov->restore();
  CHECK(t.snapshot() == original);

  auto clamp = makeDevfreqGovernor(at(t, GovernorOptions::FrequencyMode::Clamp));
  clamp->apply({{"devfreq.gpu", 114750000}});
  CHECK(t.read(G + "min_freq") == "114750000\n");  // already there: not written
  CHECK(t.read(G + "max_freq") == "114750000");
  clamp->restore();
  CHECK(t.read(G + "max_freq") == "1109250000\n");
  CHECK_THROWS_WITH(makeDevfreqGovernor(at(t), "sys/devices/gpu.0/devfreq/57000000.gpu"),
                    Catch::Contains("no devfreq GPU"));
}

namespace {
// /proc/self/comm is a real kernel file that accepts a write and keeps something else (the first 15
// characters): to dyndnn it looks exactly like a cpufreq limit the kernel clamped. Run in a child so the test
// process's own name is never touched.
int applyWhereTheKernelClamps(const std::string& root) {
  try {
    auto gov = makeCpufreqGovernor(at_root(root));
    gov->apply({{"cpufreq.policy0", 1234567890123456789}});
    return 1;
  } catch (const HardwareError& e) {
    const std::string m = e.what();
    const bool named = m.find("clamped") != std::string::npos && m.find("scaling_max_freq") != std::string::npos &&
                       m.find("123456789012345") != std::string::npos && m.find("rolled back") != std::string::npos;
    return named ? 0 : 2;
  }
}
}  // namespace

TEST_CASE("a value the kernel silently clamps is a HardwareError naming the file - and the apply rolls back") {
  FakeTree t;
  const std::string d = P + "policy0/";
  t.write(d + "scaling_available_frequencies", "100 1234567890123456789\n");
  t.write(d + "scaling_available_governors", "performance powersave\n");
  t.write(d + "scaling_governor", "powersave\n");
  t.write(d + "scaling_min_freq", "100\n");
  t.write(d + "scaling_cur_freq", "100\n");
  REQUIRE(::symlink("/proc/self/comm", t.path(d + "scaling_max_freq").c_str()) == 0);
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(applyWhereTheKernelClamps(t.root()));
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(t.read(d + "scaling_min_freq") == "100\n");  // max is written first (going up), so min never moved
}
