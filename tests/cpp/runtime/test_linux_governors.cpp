#include <catch2/catch.hpp>

#include <cmath>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"

using namespace dyndnn::runtime;

namespace {
const std::vector<std::int64_t> kLevels = {200000, 400000, 600000, 800000, 1000000, 1200000, 1400000};
}

TEST_CASE("linux governors: performance and powersave") {
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Performance, kLevels, 0.0) == 1400000);
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Powersave, kLevels, 1.0) == 200000);
}

TEST_CASE("linux governors: schedutil next_freq = 1.25 * max * util, lowest level at or above") {
  // 1.25 * 1.4 GHz * 0.4 = 700 MHz -> 800 MHz
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, kLevels, 0.4) == 800000);
  // tipping point: util 0.8 -> 1.4 GHz exactly
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, kLevels, 0.8) == 1400000);
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, kLevels, 0.79) == 1400000);  // 1.3825 GHz -> 1.4
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, kLevels, 0.68) == 1200000);  // 1.19 GHz -> 1.2
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, kLevels, 0.0) == 200000);
}

TEST_CASE("linux governors: ondemand jumps to max above up_threshold, else proportional") {
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Ondemand, kLevels, 0.81) == 1400000);
  // 0.5: 200 + 0.5 * 1200 = 800 MHz
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Ondemand, kLevels, 0.5) == 800000);
  // 0.55: 860 MHz -> 1.0 GHz
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Ondemand, kLevels, 0.55) == 1000000);
  // exactly at the threshold is not above it: 200 + 0.8 * 1200 = 1160 -> 1.2 GHz
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Ondemand, kLevels, 0.80) == 1200000);
  CHECK(linuxGovernorFrequency(LinuxGovernorKind::Ondemand, kLevels, 0.6, 0.95) == 1000000);
}

TEST_CASE("linux governors: bad levels or util are errors") {
  CHECK_THROWS_AS(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, {}, 0.5), dyndnn::InvalidArgument);
  CHECK_THROWS_AS(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, {3, 2, 1}, 0.5), dyndnn::InvalidArgument);
  CHECK_THROWS_AS(linuxGovernorFrequency(LinuxGovernorKind::Schedutil, kLevels, std::nan("")), dyndnn::InvalidArgument);
}

TEST_CASE("PELT: 32 ms half-life") {
  CHECK(peltUpdate(0.0, 1.0, 32) == Approx(0.5));
  CHECK(peltUpdate(1.0, 0.0, 32) == Approx(0.5));
  CHECK(peltUpdate(0.0, 1.0, 64) == Approx(0.75));
  double u = 0;
  for (int i = 0; i < 32; ++i) u = peltUpdate(u, 1.0, 1);  // tick by tick equals one step
  CHECK(u == Approx(0.5));
}

TEST_CASE("linux governor policy: frequency from the reported utilisation") {
  Profile p;
  for (std::int64_t f : kLevels) {
    ProfileEntry e;
    e.op = "net";
    e.hw = {{"freq", f}, {"threads", 2}};
    e.latency_ms = 10.0 * 1400000 / static_cast<double>(f);
    p.entries.push_back(e);
  }
  Target t;
  t.latency_ms = 50;
  RuntimeManager m(p, t, makeLinuxGovernorPolicy(LinuxGovernorKind::Schedutil, "net", {{"threads", 2}}, "freq"));
  auto d = m.before();
  CHECK(p.entries[d.entry].hw.at("freq") == 200000);  // no utilisation seen yet
  m.after(50, -1, 0.4);
  d = m.before();
  CHECK(p.entries[d.entry].hw.at("freq") == 800000);
}
