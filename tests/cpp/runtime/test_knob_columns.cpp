// The decision's filters on the flat knob table against the same rules on each entry's knob map (the reference:
// how the policy read them before the table), on random profiles, grants and floors.
#include <random>

#include <catch2/catch.hpp>

#include "dyndnn/runtime.hpp"
#include "runtime/knob_columns.hpp"

using namespace dyndnn::runtime;

namespace {
const char* const kKnobs[] = {"threads", "cpu.freq", "affinity", "gpu.freq", "cluster"};

bool allowedByMap(const PolicyContext& ctx, const ProfileEntry& e) {
  for (const auto& k : ctx.fixed_knobs) {
    auto g = ctx.granted.find(k);
    auto h = e.hw.find(k);
    if (g == ctx.granted.end()) continue;
    if (h == e.hw.end() || h->second != g->second) return false;
  }
  return true;
}

bool aboveFloorsByMap(const PolicyContext& ctx, const ProfileEntry& e) {
  for (std::size_t i = 0; i < ctx.floor_count; ++i) {
    const auto& f = ctx.floors[i];
    auto h = e.hw.find(f.knob);
    if (h != e.hw.end() && h->second < f.level && f.sameResource(e.hw)) return false;
  }
  return true;
}

// A random state: each knob present with probability `p`, levels 0..3 (few, so that grants and floors match).
HardwareState randomState(std::mt19937& rng, double p) {
  HardwareState hw;
  for (const char* k : kKnobs)
    if (std::bernoulli_distribution(p)(rng)) hw[k] = std::uniform_int_distribution<int>(0, 3)(rng);
  return hw;
}
}  // namespace

TEST_CASE("knob columns: granted knobs and floors filter entries as the knob maps do") {
  std::mt19937 rng(7);
  int allowed_seen[2] = {0, 0}, floors_seen[2] = {0, 0};
  KnobFilter filter;  // one filter for all trials, as a policy keeps it between frames
  for (int trial = 0; trial < 300; ++trial) {
    Profile profile;
    const int n = std::uniform_int_distribution<int>(1, 20)(rng);
    for (int i = 0; i < n; ++i) profile.entries.push_back({"op" + std::to_string(i), randomState(rng, 0.8)});
    PolicyContext ctx;
    ctx.profile = &profile;
    ctx.granted = randomState(rng, 0.3);
    for (const auto& [k, v] : ctx.granted) ctx.fixed_knobs.push_back(k);
    if (trial % 7 == 0) ctx.granted["unknown.knob"] = 1, ctx.fixed_knobs.push_back("unknown.knob");
    if (trial % 5 == 0) ctx.fixed_knobs.push_back("not.granted");  // fixed but absent from the grant: ignored
    std::vector<KnobFloor> floors;
    for (int f = std::uniform_int_distribution<int>(0, 3)(rng); f > 0; --f)
      floors.push_back({kKnobs[std::uniform_int_distribution<int>(0, 4)(rng)],
                        std::uniform_int_distribution<int>(0, 4)(rng), randomState(rng, 0.3)});
    if (trial % 11 == 0) floors.push_back({"unknown.knob", 9, {}});
    ctx.floors = floors.data();
    ctx.floor_count = floors.size();

    const KnobColumns table(profile);
    filter.prepare(table, ctx);
    for (std::size_t i = 0; i < profile.entries.size(); ++i) {
      const bool a = allowedByMap(ctx, profile.entries[i]), f = aboveFloorsByMap(ctx, profile.entries[i]);
      CHECK(filter.allowed(i) == a);
      CHECK(filter.aboveFloors(i) == f);
      ++allowed_seen[a];
      ++floors_seen[f];
    }
  }
  // Both outcomes of each filter came up often: the comparison above is not of constants.
  CHECK(allowed_seen[0] > 100);
  CHECK(allowed_seen[1] > 100);
  CHECK(floors_seen[0] > 100);
  CHECK(floors_seen[1] > 100);
}

TEST_CASE("knob columns: an entry lacking a knob reads as absent; an unknown knob has no column") {
  Profile p;
  p.entries.push_back({"a", {{"threads", 1}}});
  p.entries.push_back({"b", {{"threads", 2}, {"cpu.freq", 5}}});
  const KnobColumns table(p);
  REQUIRE(table.column("cpu.freq") >= 0);
  CHECK(table.at(0, table.column("threads")) == 1);
  CHECK(table.at(1, table.column("cpu.freq")) == 5);
  CHECK(table.at(0, table.column("cpu.freq")) == KnobColumns::kAbsent);
  CHECK(table.column("gpu.freq") == -1);
}
