// DynamicModels joining the device's dyndnnd (a real daemon process on a fake Odroid XU3 sysfs tree) through
// RuntimeOptions::arbiter = daemon::connectArbiter(), exactly as they join an in-process HardwareArbiter:
// placements by priority, the shared frequency at the highest need, freed on leaving, and frames that go on
// while the daemon is gone, reconnecting when it is back. Budgets are far above any real latency.
#include <ATen/ATen.h>
// After ATen: c10's logging header defines its own CHECK, which must not replace Catch's.
#include <catch2/catch.hpp>

#include <signal.h>

#include <thread>

#include "daemon/daemon_process.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/error.hpp"
#include "dyndnn/model.hpp"
#include "fixtures.hpp"
#include "hw/fake_tree.hpp"

using namespace dyndnn;
using namespace std::chrono_literals;

namespace {

const char kSetspeed0[] = "sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed";

// Every operating point on cpu0 / cpu1 at the given policy0 frequencies; cpu0 and the lower frequency cost less.
runtime::Profile profileOn(const DynamicModel& m, std::vector<std::int64_t> khz) {
  runtime::Profile p;
  for (std::int64_t mask : {1, 2})
    for (std::int64_t f : khz)
      for (std::size_t i = 0; i < m.operatingPoints().size(); ++i) {
        runtime::ProfileEntry e;
        e.op = m.operatingPoints()[i].name;
        e.hw = {{"affinity", mask}, {"threads", 1}, {"cpufreq.policy0", f}};
        e.accuracy = 60.0 + static_cast<double>(i % 7);
        e.latency_ms = 1000.0;
        e.power_w = (mask == 1 ? 1.0 : 2.0) * static_cast<double>(f) / 1e6;
        p.entries.push_back(e);
      }
  return p;
}

// Frames until `done` holds (grants are pushed and read at the next frame), at most ~3 s.
bool framesUntil(DynamicModel& m, const std::function<bool()>& done) {
  const at::Tensor x = at::rand({1, 1, 28, 28});
  for (int i = 0; i < 300; ++i) {
    (void)m.infer(x);
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

TEST_CASE("dynamic models join dyndnnd through RuntimeOptions: cores by priority, frequency at the highest need") {
  hw::test::FakeTree tree;
  hw::test::buildOdroidXu3(tree);
  const auto found = tree.snapshot();
  daemon::test::SocketDir dir;
  const std::vector<std::string> args = {"--root", tree.root(), "--state-file", dir.file("state.json"),
                                         "--lease-ms", "2000"};
  auto d = std::make_unique<daemon::test::DaemonProcess>(dir.socket(), args);
  auto arbiter = daemon::connectArbiter(dir.socket());
  const std::vector<runtime::HardwareState> cores = {{{"affinity", 1}}, {{"affinity", 2}}};
  auto join = [&](DynamicModel& m, const std::string& name, int priority, std::vector<std::int64_t> khz) {
    RuntimeOptions o;
    o.profile = profileOn(m, khz);
    o.arbiter = arbiter;
    o.registration = {name, priority, nullptr, cores, "affinity"};
    m.setRuntime(std::move(o));
  };
  runtime::Target t;
  t.latency_ms = 1e6;
  t.objective = runtime::Objective::LeastEnergy;
  const at::Tensor x = at::rand({1, 1, 28, 28});

  auto classifier = DynamicModel::load(test::fixture("fmnist.dyn"));
  join(classifier, "classifier", 1, {800000, 1400000});
  classifier.setTarget(t);
  (void)classifier.infer(x);
  CHECK(classifier.runtimeStats().current_hw.at("affinity") == 1);
  CHECK(classifier.runtimeStats().current_hw.at("cpufreq.policy0") == 800000);
  CHECK(tree.read(kSetspeed0) == "800000");  // the daemon set it; this process never wrote sysfs
  {
    auto detector = DynamicModel::load(test::fixture("fmnist.dyn"));
    join(detector, "detector", 5, {1400000});  // it only runs at 1.4 GHz
    detector.setTarget(t);
    (void)detector.infer(x);
    CHECK(detector.runtimeStats().current_hw.at("affinity") == 1);  // higher priority takes cpu0
    CHECK(tree.read(kSetspeed0) == "1400000");
    // The classifier is pushed its new grant: cpu1, and it runs at the 1.4 GHz the detector holds.
    CHECK(framesUntil(classifier, [&] { return classifier.runtimeStats().current_hw.at("affinity") == 2; }));
    CHECK(classifier.runtimeStats().current_hw.at("cpufreq.policy0") == 1400000);
    const auto status = daemon::queryDaemon(dir.socket());
    REQUIRE(status);
    CHECK(status->clients.size() == 2);
  }  // the detector leaves: cpu0 and the lower frequency come back to the classifier
  CHECK(framesUntil(classifier, [&] {
    return classifier.runtimeStats().current_hw.at("affinity") == 1 && tree.read(kSetspeed0) == "800000";
  }));

  SECTION("frames go on while the daemon is gone, and the model reconnects when it is back") {
    d->stop(SIGTERM);
    CHECK(tree.snapshot() == found);  // the daemon restored what it had set
    CHECK_NOTHROW(framesUntil(classifier, [] { return false; }));  // ~3 s of frames, none refused
    CHECK(classifier.runtimeStats().current_hw.at("affinity") == 1);  // its last placement
    d = std::make_unique<daemon::test::DaemonProcess>(dir.socket(), args);
    CHECK(framesUntil(classifier, [&] {
      auto s = daemon::queryDaemon(dir.socket());
      return s && s->clients.size() == 1 && tree.read(kSetspeed0) == "800000";
    }));
  }
  SECTION("a model the daemon refuses (a priority out of range) cannot join") {
    auto other = DynamicModel::load(test::fixture("fmnist.dyn"));
    RuntimeOptions o;
    o.profile = profileOn(other, {800000});
    o.arbiter = arbiter;
    o.registration = {"other", 2000, nullptr, cores, "affinity"};  // above any priority
    CHECK_THROWS_AS(other.setRuntime(std::move(o)), InvalidArgument);
  }
}

TEST_CASE("a profile asking a level dyndnnd does not offer cannot join, and says which entry") {
  hw::test::FakeTree tree;
  hw::test::buildOdroidXu3(tree);
  daemon::test::SocketDir dir;
  daemon::test::DaemonProcess d(dir.socket(), {"--root", tree.root(), "--state-file", dir.file("state.json")});
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"));
  RuntimeOptions o;
  o.profile = profileOn(model, {800000, 1234567});
  o.arbiter = daemon::connectArbiter(dir.socket());
  o.registration = {"camera", 0, nullptr, {{{"affinity", 1}}}, "affinity"};
  CHECK_THROWS_WITH(model.setRuntime(std::move(o)),
                    Catch::Contains("asks cpufreq.policy0 = 1234567") && Catch::Contains("does not offer"));
  CHECK_FALSE(model.managed());
}

TEST_CASE("connectArbiter: no daemon is a clear error") {
  CHECK_THROWS_WITH(daemon::connectArbiter("/tmp/dyndnn-no-such-daemon.sock"),
                    Catch::Contains("no dyndnnd listens on /tmp/dyndnn-no-such-daemon.sock"));
}
