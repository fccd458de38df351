#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/sim/platform.hpp"
#include "dyndnn/runtime.hpp"
#include "dyndnn/sim/simulation.hpp"

using namespace dyndnn::runtime;
using namespace dyndnn::runtime::sim;

namespace {
std::vector<SimOp> ops() {
  // latency on one A15 core at 2 GHz; accuracy grows with size
  return {{"s", 20e6, 85.0, 12.0}, {"m", 60e6, 89.0, 30.0}, {"l", 150e6, 91.0, 70.0}};
}
std::vector<Placement> bothClusters() { return {{"a7", {1, 2, 4}, 0.3}, {"a15", {1, 2, 4}}}; }
const std::map<std::string, double> kSpeed = {{"a7", 0.3}};
}  // namespace

TEST_CASE("simulated profile: entries for every op x frequency x threads, slower at lower frequency") {
  const auto prof = simulatedProfile(dyndnn::hw::odroidXu3Profile(), ops(), bothClusters());
  CHECK(prof.simulated);
  CHECK(prof.device.find("SIMULATED") == 0);
  const int fast = prof.find("l", {{"simulated.a15.freq", 2000000}, {"threads", 4}, {"cluster", 1}});
  const int slow = prof.find("l", {{"simulated.a15.freq", 200000}, {"threads", 1}, {"cluster", 1}});
  REQUIRE(fast >= 0);
  REQUIRE(slow >= 0);
  CHECK(prof.entries[slow].latency_ms > 5 * prof.entries[fast].latency_ms);
  CHECK(prof.entries[fast].power_w > prof.entries[slow].power_w);
  CHECK_THROWS_AS(simulatedProfile(dyndnn::hw::odroidXu3Profile(), ops(), {{"a15", {5}}}), dyndnn::InvalidArgument);
}

TEST_CASE("simulation: schedutil emulation raises the frequency under load and lowers it when idle") {
  auto prof = simulatedProfile(dyndnn::hw::odroidXu3Profile(), ops(), {{"a15", {4}}});
  Target t;
  t.latency_ms = 100;
  dyndnn::hw::SimulatedPlatform platform(dyndnn::hw::odroidXu3Profile());
  platform.setFrequency("a15", 200000);
  Workload w;
  w.name = "w";
  w.ops = ops();
  w.period_ms = 100;
  w.manager = std::make_shared<RuntimeManager>(prof, t, makeFixedPolicy("l", {{"simulated.a15.freq", 2000000}, {"threads", 4}, {"cluster", 1}}));
  w.driver = FrequencyDriver::Kernel;
  w.kernel_governor = LinuxGovernorKind::Schedutil;
  std::vector<Workload> ws{w};
  SimulationOptions o;
  o.frames = 30;
  const auto r = simulate(platform, ws, o);
  REQUIRE(r.size() == 1);
  // The first frame starts at 200 MHz and ramps; later frames run faster on average than the first.
  CHECK(r[0].frames.front().mean_freq < r[0].frames.back().mean_freq);
  CHECK(r[0].frames.back().latency_ms < r[0].frames.front().latency_ms);
  CHECK(r[0].energy_j > 0);
  // With performance the same work is never slower.
  auto wp = w;
  wp.manager = std::make_shared<RuntimeManager>(prof, t, makeFixedPolicy("l", {{"simulated.a15.freq", 2000000}, {"threads", 4}, {"cluster", 1}}));
  wp.kernel_governor = LinuxGovernorKind::Performance;
  std::vector<Workload> wps{wp};
  dyndnn::hw::SimulatedPlatform p2(dyndnn::hw::odroidXu3Profile());
  const auto rp = simulate(p2, wps, o);
  CHECK(rp[0].mean_latency_ms <= r[0].mean_latency_ms);
  CHECK(rp[0].energy_j > r[0].energy_j);
}

TEST_CASE("simulation: the manager meets the budget on the simulated platform and reacts to background load") {
  auto prof = simulatedProfile(dyndnn::hw::odroidXu3Profile(), ops(), {{"a15", {1, 2, 4}}});
  Target t;
  t.latency_ms = 30;
  dyndnn::hw::SimulatedPlatform platform(dyndnn::hw::odroidXu3Profile());
  Workload w{"w", ops(), std::make_shared<RuntimeManager>(prof, t), 40};
  std::vector<Workload> ws{w};
  SimulationOptions o;
  o.frames = 200;
  o.events = {{100, 0.5, std::nullopt}};
  const auto r = simulate(platform, ws, o);
  int misses_after_settle = 0;
  for (const auto& f : r[0].frames)
    if (!f.met && !(f.frame >= 100 && f.frame < 104)) ++misses_after_settle;
  CHECK(misses_after_settle <= 4);
  // Under 50% background load it must have moved to a faster state (frequency, threads) or a smaller op.
  const auto& before = r[0].frames[90];
  const auto& after = r[0].frames[150];
  CHECK((after.op != before.op || after.hw != before.hw));
}

TEST_CASE("arbiter: two models with different budgets are placed on different clusters and both served") {
  const auto platformProfile = dyndnn::hw::odroidXu3Profile();
  const auto prof = simulatedProfile(platformProfile, ops(), bothClusters());
  Target tight, loose;
  tight.latency_ms = 25;
  loose.latency_ms = 200;
  auto ma = std::make_shared<RuntimeManager>(prof, tight);
  auto mb = std::make_shared<RuntimeManager>(prof, loose);
  HardwareArbiter arb;
  std::vector<HardwareState> placements = {{{"cluster", 0}}, {{"cluster", 1}}};
  const int a = arb.add({"detector", 2, ma, placements, "cluster"});
  const int b = arb.add({"classifier", 1, mb, placements, "cluster"});
  CHECK_THROWS_AS(arb.add({"detector", 0, ma, placements, "cluster"}), dyndnn::InvalidArgument);
  arb.rearbitrate();
  CHECK(arb.granted(a).at("cluster") == 1);  // the tight budget needs the big cluster
  CHECK(arb.granted(b).at("cluster") == 0);
  dyndnn::hw::SimulatedPlatform platform(platformProfile);
  std::vector<Workload> ws{{"detector", ops(), ma, 40}, {"classifier", ops(), mb, 250}};
  for (auto& w : ws) w.speed = kSpeed;
  SimulationOptions o;
  o.frames = 150;
  const auto r = simulate(platform, ws, o, &arb);
  CHECK(r[0].hit_rate >= 0.95);
  CHECK(r[1].hit_rate >= 0.95);
  for (const auto& f : r[0].frames) CHECK(f.hw.at("cluster") == 1);
  for (const auto& f : r[1].frames) CHECK(f.hw.at("cluster") == 0);

  SECTION("a model alone gets what its own manager would choose") {
    HardwareArbiter solo;
    auto m1 = std::make_shared<RuntimeManager>(prof, tight);
    auto m2 = std::make_shared<RuntimeManager>(prof, tight);
    const int id = solo.add({"only", 0, m1, {}, ""});
    solo.rearbitrate();
    CHECK(solo.decide(id).entry == m2->before().entry);
  }
}

TEST_CASE("simulation: a competitor taking one of two cores; per-thread-count slowdown keeps the budget") {
  const dyndnn::hw::PlatformProfile two = dyndnn::hw::twoCoreProfile();
  const std::vector<SimOp> three = {{"s", 20e6, 85.0, 12.0}, {"m", 60e6, 89.0, 42.0}, {"l", 150e6, 91.0, 70.0}};
  const auto prof = simulatedProfile(two, three, {{"cpu", {1, 2}}});
  // Budget 45 ms: l fits on 2 threads (70 / 1.74 = 40 ms), not on 1. Under the competitor 2 threads run at half
  // speed (l 80, m 48 ms: out) while 1 thread is untouched (m 42 ms: in).
  Target t;
  t.latency_ms = 45;
  SimulationOptions o;
  o.frames = 200;
  o.events = {{100, std::nullopt, std::nullopt, 1}};
  auto runWith = [&](bool per_threads) {
    auto m = std::make_shared<RuntimeManager>(prof, t);
    m->setSlowdownPerThreads(per_threads, 30);
    dyndnn::hw::SimulatedPlatform platform(two);
    std::vector<Workload> ws{{"w", three, m, 60}};
    return simulate(platform, ws, o).front();
  };
  const auto per = runWith(true), global = runWith(false);
  CHECK(per.frames[50].op == "l");
  CHECK(per.frames[50].hw.at("threads") == 2);
  int per_misses = 0, global_misses = 0, per_medium_one = 0, global_small = 0;
  for (std::size_t f = 105; f < 200; ++f) {
    per_misses += per.frames[f].met ? 0 : 1;
    global_misses += global.frames[f].met ? 0 : 1;
    per_medium_one += per.frames[f].op == "m" && per.frames[f].hw.at("threads") == 1;
    global_small += global.frames[f].op == "s";
  }
  CHECK(per_misses <= 5);        // only the re-probes of 2 threads, one per 30 frames
  CHECK(per_medium_one >= 85);   // the best that still fits: m on the free core
  // One factor for every state (ALERT's model) cannot explain 2 threads at 2x and 1 thread at 1x. Which way it
  // fails depends on rounding (libm's FMA and non-FMA code paths give different runs): it swings between them and
  // keeps missing the budget (seen on an AVX2 VM), or it scales every entry by 2x and falls back to the smallest
  // network for good (an AVX-512 VM). Either is far from m on the free core.
  INFO("global: " << global_misses << " misses, " << global_small << " frames on s");
  CHECK((global_misses >= 10 || global_small >= 50));
}

TEST_CASE("arbiter: a shared frequency is raised to what a running model needs, and the other chooses again at it") {
  // Two models on one cluster, one frequency knob: a needs the high level for its budget, b alone would pick the
  // low one. While a runs, b is granted the high level and re-chooses its operating point there.
  Profile p;
  const char* names[] = {"small", "large"};
  const double acc[] = {70, 80}, ms[] = {10, 20};
  for (int f = 1; f <= 2; ++f)
    for (int i = 0; i < 2; ++i)
      p.entries.push_back({names[i], {{"freq", f}}, 0, acc[i], f == 2 ? ms[i] : ms[i] * 2, 0.1, f == 2 ? 4.0 : 1.0, 0.5, false});
  Target ta, tb;
  ta.latency_ms = 25;   // large needs freq 2 (20 ms; 40 ms at freq 1)
  tb.latency_ms = 30;   // small at freq 1 (20 ms) or large at freq 2 (20 ms); alone, least energy at most accuracy
  tb.objective = Objective::LeastEnergy;
  auto ma = std::make_shared<RuntimeManager>(p, ta), mb = std::make_shared<RuntimeManager>(p, tb);
  HardwareArbiter arb;
  const int a = arb.add({"a", 1, ma, {}, ""});
  const int b = arb.add({"b", 0, mb, {}, ""});
  arb.rearbitrate();
  const auto da = arb.decide(a);
  CHECK(p.entries[da.entry].hw.at("freq") == 2);
  CHECK(p.entries[da.entry].op == "large");
  // a is mid-frame: b must run at freq 2 too.
  const auto db = arb.decide(b);
  CHECK(p.entries[db.entry].hw.at("freq") == 2);
  ma->after(20);
  mb->after(p.entries[db.entry].latency_ms);
  arb.done(a);
  arb.done(b);
  // a idle: b alone goes back to its own choice at the low frequency (after its switch-rate limit).
  Decision db2;
  for (int i = 0; i < 6; ++i) {
    db2 = arb.decide(b);
    mb->after(p.entries[db2.entry].latency_ms);
    arb.done(b);
  }
  CHECK(p.entries[db2.entry].hw.at("freq") == 1);
  CHECK(p.entries[db2.entry].op == "small");
  CHECK_THROWS_AS(arb.decide("nobody"), dyndnn::InvalidArgument);
}
