#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/nvml.hpp"
#include "dyndnn/hw/report.hpp"
#include "dyndnn/sim/platform.hpp"
#include "hw/fake_tree.hpp"
#include "hw/sysfs.hpp"
#include "hw/snapshot_diff.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;
using test::FakeTree;
using Files = std::map<std::string, std::string>;

namespace {
GovernorOptions at(const FakeTree& t) {
  GovernorOptions o;
  o.root = t.root();
  return o;
}
}  // namespace

TEST_CASE("composite: CPU DVFS x GPU DVFS as one governor - a failing child undoes the others") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  std::vector<std::unique_ptr<Governor>> parts;
  parts.push_back(makeCpufreqGovernor(at(t)));
  parts.push_back(makeDevfreqGovernor(at(t)));
  auto gov = makeCompositeGovernor(std::move(parts));
  CHECK(gov->name() == "cpufreq+devfreq");
  CHECK(gov->knobs().size() == 4);
  gov->apply({{"cpufreq.policy0", 1190400}, {"devfreq.gpu", 510000000}});
  CHECK(gov->applied() == HardwareState{{"cpufreq.policy0", 1190400}, {"devfreq.gpu", 510000000}});
  const Files held = t.snapshot();

  // The GPU's set_freq becomes unwritable: the CPU change made in the same apply must be undone.
  const std::string set_freq = "sys/devices/17000000.gv11b/devfreq/17000000.gv11b/userspace/set_freq";
  ::unlink(t.path(set_freq).c_str());
  ::mkdir(t.path(set_freq).c_str(), 0755);
  CHECK_THROWS_WITH(gov->apply({{"cpufreq.policy0", 115200}, {"devfreq.gpu", 114750000}}),
                    Catch::Contains("set_freq"));
  CHECK(t.read("sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed") == "1190400");
  CHECK(gov->applied().at("cpufreq.policy0") == 1190400);
  // Everything else is as it was before the failed call; put back the file the sabotage destroyed.
  ::rmdir(t.path(set_freq).c_str());
  t.write(set_freq, original.at(set_freq));
  CHECK(test::changedFiles(held, t.snapshot()) == Files{{set_freq, original.at(set_freq)}});
  gov->restore();
  CHECK(test::changedFiles(original, t.snapshot()) == Files{});

  std::vector<std::unique_ptr<Governor>> dup;
  dup.push_back(makeCpufreqGovernor(at(t)));
  dup.push_back(makeCpufreqGovernor(at(t)));
  CHECK_THROWS_WITH(makeCompositeGovernor(std::move(dup)), Catch::Contains("offered by both"));
}

TEST_CASE("composite with the simulated platform is labelled simulated") {
  FakeTree t;
  test::buildOdroidXu3(t);
  std::vector<std::unique_ptr<Governor>> parts;
  parts.push_back(makeCpufreqGovernor(at(t)));
  parts.push_back(makeSimulatedGovernor(std::make_shared<SimulatedPlatform>(odroidXu3Profile())));
  auto gov = makeCompositeGovernor(std::move(parts));
  CHECK(gov->simulated());
  gov->apply({{"cpufreq.policy4", 1000000}, {"simulated.a15.freq", 1000000}});
  CHECK(gov->current().at("simulated.a15.freq") == 1000000);
}

TEST_CASE("makeGovernor and detectHardware on the fake boards and on this machine") {
  FakeTree nx;
  test::buildXavierNx(nx);
  auto gov = makeGovernor(at(nx));
  CHECK(gov->name() == "cpufreq+devfreq+affinity");
  auto report = detectHardware(nx.root());
  REQUIRE(report.backends.size() == 4);
  CHECK(report.backends[0].available);
  CHECK(report.backends[0].knobs.size() == 3);
  CHECK(report.backends[1].current.at("devfreq.gpu") == 306000000);
  CHECK(report.backends[3].available == nvmlAvailable({}));  // nvml: the host's own driver, not the fake tree's
  bool vdd_in = false;
  for (const auto& s : report.sensors)
    if (s.name == "ina3221.VDD_IN") vdd_in = s.readable && s.value && *s.value == Approx(4.872);
  CHECK(vdd_in);

  // This VM has no cpufreq: the report says so, and the governor still offers affinity and threads.
  const auto here = detectHardware("/");
  if (!Sysfs("/").exists("sys/devices/system/cpu/cpufreq/policy0")) {
    CHECK_FALSE(here.backends[0].available);
    CHECK_THAT(here.backends[0].reason, Catch::Contains("no cpufreq policy"));
    CHECK(makeGovernor()->name() == "affinity");
  }
  CHECK(here.backends[2].available);
}

TEST_CASE("concurrent apply and current from several threads leave files and applied() consistent") {
  FakeTree t;
  test::buildOdroidXu3(t);
  const Files original = t.snapshot();
  {
    auto gov = makeCpufreqGovernor(at(t));
    const auto levels = gov->knobs()[1].levels;
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w)
      threads.emplace_back([&, w] {
        for (int i = 0; i < 200; ++i) {
          gov->apply({{"cpufreq.policy4", levels[static_cast<std::size_t>(w * 3 + i) % levels.size()]},
                      {"cpufreq.policy0", 1400000}});
          (void)gov->current();
        }
      });
    for (auto& th : threads) th.join();
    // Whatever apply came last, the file, the hardware view and the cache agree.
    const auto applied = gov->applied().at("cpufreq.policy4");
    CHECK(t.read("sys/devices/system/cpu/cpufreq/policy4/scaling_setspeed") == std::to_string(applied));
    CHECK(gov->current().at("cpufreq.policy4") == applied);
  }
  CHECK(test::changedFiles(original, t.snapshot()) == Files{});
}
