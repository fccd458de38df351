#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/sim/platform.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;

TEST_CASE("Odroid XU3 profile: the FACTS OPP table and per-core dynamic power") {
  const auto p = odroidXu3Profile();
  REQUIRE(p.domains.size() == 2);
  const auto& a7 = p.domains[0];
  const auto& a15 = p.domains[1];
  CHECK(a7.cpus == std::vector<int>{0, 1, 2, 3});
  CHECK(a15.cpus == std::vector<int>{4, 5, 6, 7});
  CHECK(a7.opps.size() == 13);
  CHECK(a15.opps.size() == 19);
  CHECK(a15.opps.back().freq == 2000000);
  CHECK(a15.opps.back().millivolts == 1312.5);
  CHECK(a15.opps[5].millivolts == 900);  // 700 MHz

  // One A15 core busy at 2.0 GHz: 310 * 1312.5^2 * 2000 / 1e6 uW = 1.068 W (FACTS: ~1.07 W), plus static.
  SimulatedPlatform sim(p);
  const SimulatedWork one_a15{"a15", 1, 0.010, 0.2};
  const double a7_idle_static = 0.03, a15_static = 0.15;
  CHECK(sim.powerWatts(&one_a15) == Approx(1.0680469 + a7_idle_static + a15_static).epsilon(1e-6));
  const SimulatedWork one_a7{"a7", 1, 0.010, 0.2};
  CHECK(sim.powerWatts(&one_a7) - sim.powerWatts() == Approx(0.2048).epsilon(1e-3));  // FACTS: ~0.20 W
}

TEST_CASE("Jetson Nano profile: the L4T frequency tables, assumptions labelled") {
  const auto p = jetsonNanoProfile();
  REQUIRE(p.domains.size() == 2);
  const auto& cpu = p.domains[0];
  const auto& gpu = p.domains[1];
  CHECK(cpu.cpus == std::vector<int>{0, 1, 2, 3});
  CHECK(cpu.opps.front().freq == 102000);
  CHECK(cpu.opps.back().freq == 1479000);
  CHECK(gpu.cpus.empty());
  CHECK(gpu.opps.front().freq == 76800000);
  CHECK(gpu.opps.back().freq == 921600000);
  CHECK_THAT(p.provenance, Catch::Contains("ASSUMED"));
  // One A57 core at 1.48 GHz: 370 * 1100^2 * 1479 / 1e6 uW = 0.662 W dynamic.
  SimulatedPlatform sim(p);
  const SimulatedWork one{"cpu", 1, 0.010, 0.2};
  CHECK(sim.powerWatts(&one) - sim.powerWatts() == Approx(0.6621).epsilon(1e-3));
  sim.setFrequency("cpu", 102000);  // the floor: the compute part is 14.5x slower
  CHECK(sim.latencySeconds(one) == Approx(0.010 * (0.2 + 0.8 * 1479000.0 / 102000)));
}

TEST_CASE("simulated latency scales with frequency except for the memory-bound part - and with background load") {
  SimulatedPlatform sim(odroidXu3Profile());
  const SimulatedWork w{"a15", 4, 0.100, 0.25};
  CHECK(sim.latencySeconds(w) == Approx(0.100));
  sim.setFrequency("a15", 1000000);  // half the clock: the compute part doubles
  CHECK(sim.latencySeconds(w) == Approx(0.100 * (0.25 + 0.75 * 2)));
  sim.setBackgroundLoad(0.5);
  CHECK(sim.latencySeconds(w) == Approx(0.100 * 1.75 / 0.5));
  CHECK_THROWS_AS(sim.setBackgroundLoad(1.5), InvalidArgument);
  CHECK_THROWS_AS(sim.setFrequency("a15", 1050000), InvalidArgument);
}

TEST_CASE("simulated governor and sensor: knobs - restore - energy = power x time - all labelled simulated") {
  auto sim = std::make_shared<SimulatedPlatform>(xavierNxProfile());
  CHECK_THAT(sim->profile().provenance, Catch::Contains("ASSUMED"));
  auto sensor = makeSimulatedSensor(sim);
  CHECK(sensor->info().simulated);
  CHECK_THAT(sensor->info().name, Catch::StartsWith("simulated."));
  {
    auto gov = makeSimulatedGovernor(sim);
    CHECK(gov->simulated());
    const auto knobs = gov->knobs();
    REQUIRE(knobs.size() == 2);
    CHECK(knobs[0].name == "simulated.cpu.freq");
    CHECK(knobs[0].levels.size() == 25);
    CHECK(knobs[1].name == "simulated.gpu.freq");
    CHECK(knobs[1].levels.size() == 15);
    CHECK_THAT(knobs[1].note, Catch::Contains("SIMULATED"));
    CHECK(gov->current().at("simulated.gpu.freq") == 306000000);
    gov->apply({{"simulated.gpu.freq", 1109250000}});
    CHECK(sim->frequency("gpu") == 1109250000);

    sensor->sample();
    const SimulatedWork frame{"gpu", 1, 0.020, 0.3};
    const double power = sim->powerWatts(&frame);
    const double t = sim->run(frame);
    const auto s = sensor->sample();
    CHECK(t == Approx(0.020));
    CHECK(s.joules == Approx(power * t));
    CHECK(s.watts == Approx(power));
    CHECK(s.time_s == Approx(0.020));
  }
  CHECK(sim->frequency("gpu") == 306000000);  // the governor's destructor restored it
}
