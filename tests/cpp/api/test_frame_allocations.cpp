// Heap allocations of a managed frame beyond those of the inference itself: none in steady state (a frame at
// camera rate must not touch the allocator for the manager's bookkeeping). This executable replaces the global
// operator new to count the calling thread's allocations; nothing else runs in it.
#include <ATen/ATen.h>
// After ATen: c10's logging header defines its own CHECK, which must not replace Catch's.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <new>

#include "dyndnn/model.hpp"
#include "dyndnn/sim/platform.hpp"
#include "fixtures.hpp"

namespace {
thread_local bool counting = false;
thread_local long allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace dyndnn;

namespace {

// Allocations per call of `frame`, averaged over `frames` calls after `warmup` uncounted ones (more than the
// runtime manager's trace window: until it is full a frame adds a record).
template <class F>
double allocationsPerFrame(F&& frame, int warmup = 1200, int frames = 200) {
  for (int i = 0; i < warmup; ++i) frame();
  allocations = 0;
  counting = true;
  for (int i = 0; i < frames; ++i) frame();
  counting = false;
  return static_cast<double>(allocations) / frames;
}

// The fixture's operating points, accuracy growing with the index, on two simulated CPU frequencies (high: 5 W,
// low: 1 W) or on the hardware as it is.
runtime::Profile profileFor(const DynamicModel& m, bool with_frequency) {
  runtime::Profile p;
  for (std::int64_t f : {1190400, 1907200}) {
    for (std::size_t i = 0; i < m.operatingPoints().size(); ++i) {
      runtime::ProfileEntry e;
      e.op = m.operatingPoints()[i].name;
      if (with_frequency) e.hw = {{"simulated.cpu.freq", f}};
      e.accuracy = 60.0 + static_cast<double>(i);
      e.latency_ms = 1000.0;  // far above any real latency: the decision never changes with timing
      e.power_w = f == 1907200 ? 5.0 : 1.0;
      p.entries.push_back(e);
    }
    if (!with_frequency) break;
  }
  return p;
}

}  // namespace

TEST_CASE("managed frame: no heap allocation beyond the inference's own in steady state") {
  ModelOptions options;
  options.prefetch_operating_points = false;
  auto model = DynamicModel::load(test::fixture("fmnist.dyn"), options);
  const at::Tensor x = at::rand({1, 1, 28, 28});
  at::NoGradGuard no_grad;
  runtime::Target t;
  t.latency_ms = 1e6;

  auto platform = std::make_shared<hw::SimulatedPlatform>(hw::xavierNxProfile());
  std::shared_ptr<hw::Governor> gov = hw::makeSimulatedGovernor(platform);
  {
    RuntimeOptions o;
    o.profile = profileFor(model, true);
    o.governor = gov;
    model.setRuntime(std::move(o));
  }
  model.setTarget(t);
  (void)model.infer(x);
  // The same sub-network on a model without a runtime: what the inference itself allocates (its output tensor,
  // oneDNN's and ATen's own).
  auto plain = DynamicModel::load(test::fixture("fmnist.dyn"), options);
  auto direct = [&](const std::string& op) {
    plain.setSubnet(op);
    return allocationsPerFrame([&] { (void)plain.infer(x); });
  };

  SECTION("with a governor") {
    const double managed = allocationsPerFrame([&] { (void)model.infer(x); });
    CHECK(managed == direct(model.activeName()));
  }
  SECTION("in an arbiter, with another model registered") {
    auto arbiter = std::make_shared<runtime::HardwareArbiter>(gov);
    RuntimeOptions o;
    o.profile = profileFor(model, true);
    o.governor = gov;
    o.arbiter = arbiter;
    o.registration = {"camera", 1, nullptr, {}, ""};
    model.setRuntime(std::move(o));
    auto other = std::make_shared<runtime::RuntimeManager>(profileFor(model, true), t);
    const int id = arbiter->add({"other", 0, other, {}, ""});
    (void)arbiter->decide(id);  // the other model is mid-frame: its frequency is a floor for this one
    const double managed = allocationsPerFrame([&] { (void)model.infer(x); });
    CHECK(managed == direct(model.activeName()));
  }
  SECTION("through DynamicModel::setTarget") {
    model.setRuntime(RuntimeOptions{profileFor(model, false)});
    model.setTarget(t);
    const double managed = allocationsPerFrame([&] { (void)model.infer(x); });
    CHECK(managed == direct(model.activeName()));
  }
}
