// Concurrency of DynamicModel with the runtime manager inside it: several threads call infer() (tensors and 8-bit
// images) while another thread changes targets (setTarget with random budgets and objectives, setRuntime),
// switches by hand (setSubnet / requestSubnet by name and by explicit config) and shrinks and grows the plan
// cache's budget so that plans are evicted and rebuilt, and a third reads the model's state. Thousands of
// iterations; every output must be exactly what one of the sub-networks gives for that input, computed quietly
// beforehand. scripts/sanitize.sh runs it under TSan and ASan; the profile is synthetic (latencies far above real
// ones, one thread) so nothing depends on timing or on the machine.
#include <ATen/ATen.h>
// After ATen: c10's logging header defines its own CHECK, which must not replace Catch's.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dyndnn/dyndnn.hpp"
#include "fixtures.hpp"

using namespace dyndnn;
using dyndnn::test::fixture;
using dyndnn::test::relativeError;

namespace {

constexpr double kTolerance = 1e-4;

// Every operating point on one thread (so OpenMP teams stay at one thread under TSan); accuracy grows with the
// index, latencies far above real ones so the choices do not hang on this machine's speed.
runtime::Profile syntheticProfile(const DynamicModel& m, double scale) {
  runtime::Profile p;
  for (std::size_t i = 0; i < m.operatingPoints().size(); ++i) {
    runtime::ProfileEntry e;
    e.op = m.operatingPoints()[i].name;
    e.hw = {{"threads", 1}};
    e.accuracy = 60.0 + static_cast<double>(i);
    e.latency_ms = scale * static_cast<double>(i + 1);
    e.power_w = 1.0 + static_cast<double>(i % 3);
    p.entries.push_back(e);
  }
  return p;
}

runtime::Target randomTarget(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  runtime::Target t;
  if (u(rng) < 0.5) {
    t.latency_ms = 1.0 + u(rng) * 20000.0;  // from "nothing fits" to "everything fits"
  } else {
    t.fps = 0.05 + u(rng) * 10.0;
  }
  if (u(rng) < 0.3) t.min_accuracy = 55.0 + u(rng) * 20.0;
  if (u(rng) < 0.2) t.power_w = 0.5 + u(rng) * 3.0;
  t.objective = u(rng) < 0.5 ? runtime::Objective::MostAccuracy : runtime::Objective::LeastEnergy;
  t.confidence = 0.5 + u(rng) * 0.49;
  return t;
}

}  // namespace

TEST_CASE("dynamic model: infer from several threads while another changes targets and sub-networks and the "
          "plan cache evicts",
          "[concurrency]") {
  auto model = DynamicModel::load(fixture("fmnist.dyn"));
  const auto& ops = model.operatingPoints();
  REQUIRE(ops.size() >= 4);
  const int channels = model.info().input.channels;

  // Inputs: tensors at the model's size, another size (resized) and a batch of two, plus an 8-bit image.
  at::manual_seed(7);
  std::vector<at::Tensor> tensors = {at::randn({1, channels, 28, 28}), at::randn({channels, 28, 28}),
                                     at::randn({2, channels, 36, 36})};
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(28 * 28 * channels));
  std::mt19937 fill(11);
  for (auto& p : pixels) p = static_cast<std::uint8_t>(fill() & 0xff);
  const ImageView image{pixels.data(), 28, 28, channels, 0};
  const std::size_t n_inputs = tensors.size() + 1;  // the last one is the image
  auto run = [&](std::size_t k) { return k < tensors.size() ? model.infer(tensors[k]) : model.infer(image); };

  // Explicit configs: the operating points' own configs, but with the supernet's BN statistics (a different plan).
  std::vector<SubnetConfig> configs = {ops[1].config, ops[ops.size() - 1].config};

  // What every sub-network gives for every input, computed before any concurrency.
  std::vector<std::vector<at::Tensor>> by_input(n_inputs);
  std::size_t max_plan_bytes = 0;
  auto record = [&] {
    for (std::size_t k = 0; k < n_inputs; ++k) by_input[k].push_back(run(k));
    max_plan_bytes = std::max(max_plan_bytes, model.activePlanBytes());
  };
  for (const auto& op : ops) {
    model.setSubnet(op.name);
    record();
  }
  for (const auto& c : configs) {
    model.setSubnet(c);
    record();
  }
  // The comparison means something: different sub-networks give clearly different outputs.
  CHECK(relativeError(by_input[0][0], by_input[0][ops.size() - 1]) > 1e-2);

  // Room for about two plans: cycling through the operating points evicts.
  const std::size_t small_budget = max_plan_bytes * 2 + max_plan_bytes / 2;
  model.setPlanCacheBudget(small_budget);
  RuntimeOptions ro;
  ro.profile = syntheticProfile(model, 1000.0);
  model.setRuntime(std::move(ro));

  constexpr int kChanges = 2000;
  constexpr int kMinInfers = 4000;
  std::atomic<bool> stop{false};
  std::atomic<int> checked{0}, unexplained{0}, errors{0};
  std::atomic<int> controller_done{0};
  std::mutex error_mutex;
  std::string first_error;
  std::atomic<std::size_t> reads{0};

  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    while (!stop.load()) {
      const std::size_t k = rng() % n_inputs;
      try {
        const at::Tensor y = run(k);
        bool explained = false;
        for (const auto& candidate : by_input[k])
          explained = explained || (y.sizes() == candidate.sizes() && relativeError(y, candidate) < kTolerance);
        if (!explained) ++unexplained;
      } catch (const std::exception& e) {  // Catch's macros are not thread-safe: report after the join
        if (errors++ == 0) {
          std::lock_guard<std::mutex> lock(error_mutex);
          first_error = e.what();
        }
      }
      // Keep going until the controller is done and enough frames have been checked.
      if (++checked >= kMinInfers && controller_done.load()) stop = true;
    }
  };
  auto reader = [&] {
    std::size_t sink = 0;
    while (!stop.load()) {
      sink += model.planCacheStats().entries + model.activeName().size() + model.activeConfig().knobs.size();
      sink += model.backend().size() + static_cast<std::size_t>(model.managed()) + model.switchPending();
      sink += model.lastSwitchError().size() + static_cast<std::size_t>(model.threads());
      if (auto m = model.runtimeManager()) sink += m->stats().frames;
      reads += sink > 0;
      std::this_thread::yield();
    }
  };

  std::vector<std::thread> threads;
  for (unsigned s = 1; s <= 3; ++s) threads.emplace_back(worker, s);
  threads.emplace_back(reader);

  std::mt19937 rng(2024);
  int targets = 0, manual = 0;
  for (int i = 0; i < kChanges; ++i) {
    const int what = static_cast<int>(rng() % 16);
    const auto& name = ops[rng() % ops.size()].name;
    if (what < 6) {
      model.setTarget(randomTarget(rng));
      ++targets;
    } else if (what < 8) {
      model.setSubnet(name);
      ++manual;
    } else if (what < 10) {
      model.requestSubnet(name);
      ++manual;
    } else if (what == 10) {
      model.setSubnet(configs[rng() % configs.size()]);
      ++manual;
    } else if (what == 11) {
      model.requestSubnet(configs[rng() % configs.size()]);
      ++manual;
    } else if (what == 12) {
      // 0 empties the cache (the active plan stays alive in the model); otherwise room for one to three plans
      model.setPlanCacheBudget(rng() % 4 == 0 ? 0 : max_plan_bytes * (1 + rng() % 3));
    } else if (what == 13) {
      model.setPlanCacheBudget(small_budget);
    } else if (what == 14 && i % 50 == 14) {
      RuntimeOptions again;  // a new manager while frames run on the old one; a target in force stays in force
      again.profile = syntheticProfile(model, rng() % 2 ? 1000.0 : 0.01);
      model.setRuntime(std::move(again));
    } else {
      std::this_thread::yield();
    }
  }
  controller_done = 1;
  for (auto& t : threads) t.join();

  INFO("checked " << checked.load() << " outputs, " << targets << " targets, " << manual << " manual switches");
  INFO("first error: " << first_error);
  CHECK(errors == 0);
  CHECK(reads > 0);
  CHECK(unexplained == 0);
  CHECK(checked >= kMinInfers);
  CHECK(targets > kChanges / 4);
  CHECK(model.lastSwitchError().empty());
  const auto cache = model.planCacheStats();
  CHECK(cache.evictions > 0);
  CHECK(cache.builds > ops.size() + configs.size());  // evicted plans were built again
  CHECK(model.runtimeManager() != nullptr);

  // Still consistent afterwards: a target drives it, a manual switch takes it back.
  runtime::Target t;
  t.latency_ms = 1e9;
  model.setTarget(t);
  for (int i = 0; i < 10; ++i) (void)model.infer(tensors[0]);
  CHECK(model.managed());
  CHECK(model.activeName() == ops.back().name);  // the most accurate of the synthetic profile
  model.setSubnet(ops.front().name);
  CHECK_FALSE(model.managed());
  CHECK(relativeError(model.infer(tensors[0]), by_input[0][0]) < kTolerance);
}
