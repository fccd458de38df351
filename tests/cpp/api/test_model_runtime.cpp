// DynamicModel under the runtime manager: setRuntime() + setTarget() + infer() drive the model and the governor;
// setSubnet() suspends the manager.
// Budgets are far above any real latency, so nothing here depends on timing.
#include <ATen/ATen.h>
// After ATen: c10's logging header defines its own CHECK, which must not replace Catch's.
#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/sim/platform.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/profiling.hpp"
#include "fixtures.hpp"

using namespace dyndnn;

namespace {
// Profile of the fixture's operating points on two simulated CPU frequencies of the Xavier NX model:
// accuracy grows with the index except random7; the high frequency draws 5 W, the low one 1 W.
runtime::Profile profileFor(const DynamicModel& m) {
  runtime::Profile p;
  for (std::int64_t f : {1190400, 1907200})
    for (std::size_t i = 0; i < m.operatingPoints().size(); ++i) {
      runtime::ProfileEntry e;
      e.op = m.operatingPoints()[i].name;
      e.hw = {{"simulated.cpu.freq", f}};
      e.accuracy = i == 7 ? 10.0 : 60.0 + static_cast<double>(i);
      e.latency_ms = 1.0 + static_cast<double>(i);
      e.power_w = f == 1907200 ? 5.0 : 1.0;
      p.entries.push_back(e);
    }
  return p;
}

// Without a target the runtime changes nothing (the first operating point runs); setTarget(budget) hands control
// to the manager, whose first frame takes the most accurate point of the fixture's profiles (random6).
void checkHandOver(DynamicModel& model, const at::Tensor& x, double budget_ms) {
  CHECK_FALSE(model.managed());
  (void)model.infer(x);
  CHECK(model.activeName() == model.operatingPoints().front().name);
  runtime::Target t;
  t.latency_ms = budget_ms;
  model.setTarget(t);
  CHECK(model.managed());
  (void)model.infer(x);
  CHECK(model.activeName() == "random6");
  CHECK(model.runtimeStats().frames == 1);
}

// Install a runtime from the given profile (and governor, and arbiter when given).
void manage(DynamicModel& m, runtime::Profile p, std::shared_ptr<hw::Governor> gov = nullptr,
            std::shared_ptr<runtime::HardwareArbiter> arbiter = nullptr,
            runtime::HardwareArbiter::Registration registration = {}) {
  RuntimeOptions o;
  o.profile = std::move(p);
  o.governor = std::move(gov);
  o.arbiter = std::move(arbiter);
  o.registration = std::move(registration);
  m.setRuntime(std::move(o));
}
}  // namespace

TEST_CASE("managed model: setTarget + infer choose the operating point and the hardware state") {
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  auto platform = std::make_shared<hw::SimulatedPlatform>(hw::xavierNxProfile());
  std::shared_ptr<hw::Governor> gov = hw::makeSimulatedGovernor(platform);
  manage(model, profileFor(model), gov);
  const at::Tensor x = at::rand({1, 1, 28, 28});
  checkHandOver(model, x, 1e6);
  CHECK(platform->frequency("cpu") == 1190400);  // same accuracy at both frequencies: least energy (1 W)
  runtime::Target t;
  t.latency_ms = 1e6;

  SECTION("manual setSubnet suspends the manager until setTarget") {
    model.setSubnet("random1");
    CHECK_FALSE(model.managed());
    for (int i = 0; i < 3; ++i) (void)model.infer(x);
    CHECK(model.activeName() == "random1");
    CHECK(model.runtimeManager()->stats().frames == 1);
    model.setTarget(t);
    (void)model.infer(x);
    CHECK(model.activeName() == "random6");
  }
  SECTION("an infeasible accuracy floor is best effort and reported") {
    t.min_accuracy = 99;
    model.setTarget(t);
    (void)model.infer(x);
    CHECK(model.activeName() == "random6");
    CHECK(model.runtimeManager()->stats().unmet == runtime::kUnmetAccuracy);
  }
  SECTION("invalid targets are rejected and leave the manager as it was") {
    t.latency_ms = -1;
    CHECK_THROWS_AS(model.setTarget(t), InvalidArgument);
    CHECK(model.managed());
  }
}

TEST_CASE("managed model: a profile naming unknown operating points is rejected") {
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  auto p = profileFor(model);
  p.entries[0].op = "not-there";
  CHECK_THROWS_WITH(manage(model, p), Catch::Contains("not-there"));
}

TEST_CASE("managed model: decisions go through the hardware arbiter once joined") {
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  auto platform = std::make_shared<hw::SimulatedPlatform>(hw::xavierNxProfile());
  std::shared_ptr<hw::Governor> gov = hw::makeSimulatedGovernor(platform);
  auto profile = profileFor(model);
  for (auto& e : profile.entries)  // at the low frequency only the small operating points
    if (e.hw.at("simulated.cpu.freq") == 1190400 && e.op != "random0") e.accuracy = 0;
  manage(model, profile, gov);
  runtime::Target t;
  t.latency_ms = 1e6;
  t.objective = runtime::Objective::LeastEnergy;
  t.min_accuracy = 50;
  model.setTarget(t);
  (void)model.infer(at::rand({1, 1, 28, 28}));
  CHECK(platform->frequency("cpu") == 1190400);  // alone: the 1 W state
  auto arbiter = std::make_shared<runtime::HardwareArbiter>(gov);
  // The arbiter grants only the high frequency (say another model's placement holds the low one).
  manage(model, profile, gov, arbiter, {"classifier", 0, nullptr, {{{"simulated.cpu.freq", 1907200}}}, "simulated.cpu.freq"});
  CHECK(model.managed());  // the target carries over to the new runtime
  for (int i = 0; i < 6; ++i) (void)model.infer(at::rand({1, 1, 28, 28}));
  CHECK(platform->frequency("cpu") == 1907200);
  CHECK(model.activeName() == "random0");  // least energy among the accurate enough ones, all equal power: fastest
}

TEST_CASE("dynamic models join one arbiter through RuntimeOptions: placements by priority, freed on leaving") {
  // Two placements ("affinity" cpu0 / cpu1, as bench_two_workloads uses them); both models prefer cpu0 (less
  // power there). No governor: the arbitration is checked, the hardware is left alone.
  auto profileOnCores = [](const DynamicModel& m) {
    runtime::Profile p;
    for (std::int64_t mask : {1, 2})
      for (std::size_t i = 0; i < m.operatingPoints().size(); ++i) {
        runtime::ProfileEntry e;
        e.op = m.operatingPoints()[i].name;
        e.hw = {{"affinity", mask}, {"threads", 1}};
        e.accuracy = 60.0 + static_cast<double>(i % 7);
        e.latency_ms = 1000.0;  // far above any real latency: nothing here depends on timing
        e.power_w = mask == 1 ? 1.0 : 2.0;
        p.entries.push_back(e);
      }
    return p;
  };
  auto arbiter = std::make_shared<runtime::HardwareArbiter>();
  const std::vector<runtime::HardwareState> cores = {{{"affinity", 1}}, {{"affinity", 2}}};
  auto join = [&](DynamicModel& m, const std::string& name, int priority) {
    RuntimeOptions o;
    o.profile = profileOnCores(m);
    o.arbiter = arbiter;
    o.registration = {name, priority, nullptr, cores, "affinity"};
    m.setRuntime(std::move(o));
  };
  runtime::Target t;
  t.latency_ms = 1e6;
  t.objective = runtime::Objective::LeastEnergy;
  const at::Tensor x = at::rand({1, 1, 28, 28});

  auto classifier = DynamicModel::load(test::fixture("fmnist.dyn"));
  join(classifier, "classifier", 0);
  classifier.setTarget(t);
  CHECK(arbiter->granted("classifier").at("affinity") == 1);  // alone: its preferred core
  {
    auto detector = DynamicModel::load(test::fixture("fmnist.dyn"));
    join(detector, "detector", 1);
    detector.setTarget(t);
    CHECK(arbiter->granted("detector").at("affinity") == 1);  // higher priority takes cpu0
    CHECK(arbiter->granted("classifier").at("affinity") == 2);
    (void)detector.infer(x);
    (void)classifier.infer(x);
    CHECK(detector.runtimeStats().current_hw.at("affinity") == 1);
    CHECK(classifier.runtimeStats().current_hw.at("affinity") == 2);

    auto other = DynamicModel::load(test::fixture("fmnist.dyn"));
    CHECK_THROWS_WITH(join(other, "detector", 0), Catch::Contains("already registered"));
    CHECK(arbiter->ids().size() == 2);
    // A model whose new runtime cannot join keeps its old one, membership included.
    CHECK_THROWS_WITH(join(classifier, "detector", 0), Catch::Contains("already registered"));
    CHECK(arbiter->ids().size() == 2);
    CHECK(arbiter->granted("classifier").at("affinity") == 2);
  }  // the detector is destroyed: it leaves, and the classifier gets cpu0 back
  CHECK(arbiter->ids().size() == 1);
  CHECK(arbiter->granted("classifier").at("affinity") == 1);
  (void)classifier.infer(x);
  CHECK(classifier.runtimeStats().current_hw.at("affinity") == 1);

  classifier.setRuntime(RuntimeOptions{profileOnCores(classifier)});  // a runtime without the arbiter: it leaves
  CHECK(arbiter->ids().empty());
  CHECK(classifier.managed());  // the target carries over
}

TEST_CASE("managed model: the threads knob sets the model's own thread count") {
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  CHECK_THROWS_AS(model.setThreads(-1), InvalidArgument);
  CHECK(model.threads() == 0);
  runtime::Profile p;
  for (int t = 1; t <= 2; ++t) {
    runtime::ProfileEntry e;
    e.op = model.operatingPoints().front().name;
    e.hw = {{"threads", t}};
    e.accuracy = 70;
    // Far above any real latency: the one observation below is an outlier the estimator holds back, so the
    // choices do not depend on how fast this machine is.
    e.latency_ms = 1000.0 / t;
    e.power_w = t == 1 ? 1.0 : 3.0;  // energy 1 J on one thread, 1.5 J on two
    p.entries.push_back(e);
  }
  manage(model, p);
  // One slowdown for both thread counts (setRuntime tracks one per thread count when the profile has several):
  // the frame measured on one thread must not make one thread look faster than two.
  model.runtimeManager()->setSlowdownPerThreads(false);
  runtime::Target t;
  t.latency_ms = 1e6;
  t.objective = runtime::Objective::LeastEnergy;
  model.setTarget(t);
  (void)model.infer(at::rand({1, 1, 28, 28}));
  CHECK(model.threads() == 1);
  t.latency_ms = 700;  // only two threads make it (500 ms predicted)
  t.confidence = 0.5;
  model.setTarget(t);
  (void)model.infer(at::rand({1, 1, 28, 28}));
  CHECK(model.threads() == 2);
}

TEST_CASE("dynamic model: setTarget and infer hand control to the manager inside the model") {
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  const at::Tensor x = at::rand({1, 1, 28, 28});
  CHECK_FALSE(model.managed());
  CHECK(model.runtimeManager() == nullptr);
  CHECK_THROWS_AS(model.runtimeStats(), InvalidArgument);

  runtime::Target bad;
  bad.fps = 0;
  CHECK_THROWS_WITH(model.setTarget(bad), Catch::Contains("fps"));
  CHECK(model.runtimeManager() == nullptr);  // a rejected target measures nothing

  // The synthetic profile over the model's own thread knob (no governor: the hardware is left alone).
  RuntimeOptions ro;
  runtime::Profile p;
  for (std::size_t i = 0; i < model.operatingPoints().size(); ++i) {
    runtime::ProfileEntry e;
    e.op = model.operatingPoints()[i].name;
    e.hw = {{"threads", 1}};
    e.accuracy = i == 7 ? 10.0 : 60.0 + static_cast<double>(i);
    e.latency_ms = 1000.0 * static_cast<double>(i + 1);  // far above real latencies: choices do not hang on timing
    p.entries.push_back(e);
  }
  ro.profile = p;
  model.setRuntime(std::move(ro));
  checkHandOver(model, x, 1e9);
  CHECK(model.threads() == 1);
  runtime::Target t;
  t.latency_ms = 1e9;

  SECTION("a manual switch suspends the manager until the next setTarget") {
    model.setSubnet("random2");
    CHECK_FALSE(model.managed());
    (void)model.infer(x);
    CHECK(model.activeName() == "random2");
    CHECK(model.runtimeStats().frames == 1);
    CHECK_THROWS_AS(model.setSubnet("no-such-point"), InvalidArgument);
    model.setTarget(t);
    (void)model.infer(x);
    CHECK(model.activeName() == "random6");
    CHECK(model.runtimeStats().frames == 2);
  }
  SECTION("an infeasible budget is best effort: the fastest point, reported as unmet") {
    t.latency_ms = 1e-3;
    model.setTarget(t);
    (void)model.infer(x);
    CHECK(model.activeName() == model.operatingPoints().front().name);
    CHECK((model.runtimeStats().unmet & runtime::kUnmetLatency) != 0);
  }
  SECTION("a moved model keeps its manager") {
    DynamicModel moved = std::move(model);
    (void)moved.infer(x);
    CHECK(moved.runtimeStats().frames == 2);
    moved.setSubnet("random3");
    CHECK(moved.activeName() == "random3");
    CHECK_FALSE(moved.managed());
  }
  SECTION("a new runtime keeps the target in force") {
    RuntimeOptions again;
    again.profile = p;
    model.setRuntime(std::move(again));
    CHECK(model.managed());
    CHECK(model.runtimeStats().frames == 0);
  }
}

TEST_CASE("dynamic model: setTarget without a profile measures one here over the thread counts") {
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  model.setSubnet("random4");
  runtime::Target t;
  t.latency_ms = 1e9;
  model.setTarget(t);
  const auto& profile = model.runtimeManager()->profile();
  const auto states = threadCountStates();
  CHECK(profile.entries.size() == model.operatingPoints().size() * states.size());
  for (const auto& e : profile.entries) {
    CHECK(e.latency_ms > 0);
    CHECK_FALSE(e.predicted);
  }
  CHECK(model.threads() == 0);  // profiling put the model's own settings back
  const at::Tensor out = model.infer(at::rand({2, 1, 28, 28}));
  CHECK(out.size(0) == 2);
  CHECK(model.runtimeStats().frames == 1);
}

TEST_CASE("managed model: a frame that throws after the decision leaves the arbiter and the manager as before") {
  // The model needs the high frequency (nothing is accurate enough at the low one); another model alone would run
  // at the low one. A bad input throws inside the managed frame: its need for the high frequency must lapse (no
  // shared knob left raised for a model that never ran) and the manager must not count or learn from the frame.
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  auto profile = profileFor(model);
  for (auto& e : profile.entries)
    if (e.hw.at("simulated.cpu.freq") == 1190400) e.accuracy = 0;
  manage(model, profile);
  runtime::Target t;
  t.latency_ms = 1e6;
  t.min_accuracy = 50;
  model.setTarget(t);
  auto arbiter = std::make_shared<runtime::HardwareArbiter>();
  manage(model, profile, nullptr, arbiter, {"camera", 1, nullptr, {}, ""});
  runtime::Target loose;
  loose.latency_ms = 1e6;
  loose.objective = runtime::Objective::LeastEnergy;
  auto other = std::make_shared<runtime::RuntimeManager>(profileFor(model), loose);
  const int id = arbiter->add({"other", 0, other, {}, ""});

  CHECK_THROWS_AS(model.infer(at::rand({1, 3, 5, 5})), InvalidArgument);
  CHECK(model.runtimeManager()->stats().frames == 0);
  const auto d = arbiter->decide(id);
  CHECK(other->profile().entries[static_cast<std::size_t>(d.entry)].hw.at("simulated.cpu.freq") == 1190400);
  other->after(1.0);
  arbiter->done(id);

  (void)model.infer(at::rand({1, 1, 28, 28}));  // a good frame still works and is counted
  CHECK(model.runtimeManager()->stats().frames == 1);
  CHECK(model.runtimeManager()->stats().current_hw.at("simulated.cpu.freq") == 1907200);
}
