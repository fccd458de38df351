// What the runtime manager adds to a frame (issue: no work on the hot path that need not be there). Two
// measurements, side by side in one process, one JSON object on stdout:
//   frames:      infer() of a managed model (setTarget, a simulated governor; and the same joined to an arbiter
//                with a second model mid-frame) against plain infer(), interleaved frame by frame on the same
//                input. Two loaded copies of one package differ by 3-20 us per frame on their own (where their
//                plans' memory landed), more than the manager costs, so each kind is measured as a crossover:
//                copies A and B alternate roles in blocks (A managed while B runs plain, then B managed while A
//                runs plain, suspended by setSubnet() of the same sub-network), and the overhead is the mean of the
//                two roles' differences of medians, in which each copy's own bias cancels.
//   bookkeeping: the manager's part alone, without inference: RuntimeManager::before() + after(), and
//                HardwareArbiter::decide() + the manager's after() + done(), in tight loops (precise where the
//                difference of two noisy inference medians is not); and the simulated governor's apply() of
//                the state it already holds.
// Usage: bench_managed_frame PACKAGE [FRAMES]

#include <ATen/ATen.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/sim/platform.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double us(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::micro>(b - a).count(); }

json summary(const std::vector<double>& v) {
  return {{"median_us", bench::median(v)}, {"p90_us", bench::percentile(v, 0.9)}, {"runs", v.size()}};
}

// Every operating point of `m` on two simulated CPU frequencies; latencies far above real ones, so the decision
// is the same every frame (steady state) and the frames measure bookkeeping, not switching. The shortest frames
// (the smallest point) keep the difference of two inference medians least noisy.
dyndnn::runtime::Profile profileFor(const dyndnn::DynamicModel& m) {
  dyndnn::runtime::Profile p;
  for (std::int64_t f : {1190400, 1907200})
    for (std::size_t i = 0; i < m.operatingPoints().size(); ++i) {
      dyndnn::runtime::ProfileEntry e;
      e.op = m.operatingPoints()[i].name;
      e.hw = {{"simulated.cpu.freq", f}};
      e.accuracy = 60.0 + static_cast<double>(i);
      e.latency_ms = 1000.0;
      e.power_w = f == 1907200 ? 5.0 : 1.0;
      p.entries.push_back(e);
    }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_managed_frame PACKAGE [FRAMES]\n";
    return 2;
  }
  try {
    const int frames = argc > 2 ? std::stoi(argv[2]) : 2000;
    at::NoGradGuard no_grad;
    // Two copies per kind: [0..1] with a governor, [2..3] in the arbiter.
    std::vector<dyndnn::DynamicModel> models;
    for (int i = 0; i < 4; ++i) models.push_back(dyndnn::DynamicModel::load(argv[1]));
    auto platform = std::make_shared<dyndnn::hw::SimulatedPlatform>(dyndnn::hw::xavierNxProfile());
    std::shared_ptr<dyndnn::hw::Governor> gov = dyndnn::hw::makeSimulatedGovernor(platform);
    dyndnn::runtime::Target t;
    t.latency_ms = 1e6;
    t.objective = dyndnn::runtime::Objective::LeastEnergy;  // every entry ties: the first, the smallest point
    auto arbiter = std::make_shared<dyndnn::runtime::HardwareArbiter>(gov);
    for (std::size_t i = 0; i < models.size(); ++i) {
      dyndnn::RuntimeOptions o;
      o.profile = profileFor(models[i]);
      o.governor = gov;
      if (i >= 2) {
        o.arbiter = arbiter;
        o.registration = {i == 2 ? "camera" : "camera2", 1, nullptr, {}, ""};
      }
      models[i].setRuntime(std::move(o));
      models[i].setTarget(t);
    }
    auto other = std::make_shared<dyndnn::runtime::RuntimeManager>(profileFor(models[0]), t);
    const int other_id = arbiter->add({"other", 0, other, {}, ""});
    (void)arbiter->decide(other_id);  // mid-frame for the whole run: its frequency is a floor for the camera

    const int channels = models[0].info().input.channels;
    (void)models[0].infer(at::rand({1, channels, 32, 32}));  // the first decision: the input takes its resolution
    const int r = models[0].activeConfig().r;
    const std::string point = models[0].activeName();
    const at::Tensor x = at::rand({1, channels, r, r});
    for (auto& m : models) {
      (void)m.infer(x);
      if (m.activeName() != point) throw std::runtime_error("the managed models chose different operating points");
    }

    // Blocks alternate which copy of each pair is managed; all four models run every frame, in an order that
    // rotates (the model run right after another one finds the caches as that one left them).
    constexpr int kBlocks = 8;
    const int per_block = std::max(1, frames / kBlocks);
    // samples[kind][role][managed?]: kind 0 governor, 1 arbiter; role 0: copy A managed, 1: copy B managed
    std::vector<double> samples[2][2][2];
    for (int block = 0; block < kBlocks; ++block) {
      const int role = block % 2;
      for (int kind = 0; kind < 2; ++kind) {
        auto& managed = models[static_cast<std::size_t>(2 * kind + role)];
        auto& plain = models[static_cast<std::size_t>(2 * kind + 1 - role)];
        plain.setSubnet(point);  // suspends its manager (same sub-network: no switch)
        managed.setTarget(t);
      }
      for (int i = 0; i < per_block + 20; ++i)
        for (int k = 0; k < 4; ++k) {
          const int which = (i + k) % 4, kind = which / 2, copy = which % 2;
          const auto a = Clock::now();
          (void)models[static_cast<std::size_t>(which)].infer(x);
          const double took = us(a, Clock::now());
          if (i >= 20) samples[kind][role][copy == role ? 1 : 0].push_back(took);  // after a short warm-up
        }
    }
    auto overhead = [&](int kind) {
      double sum = 0;
      for (int role = 0; role < 2; ++role)
        sum += bench::median(samples[kind][role][1]) - bench::median(samples[kind][role][0]);
      return sum / 2;
    };
    auto pooled = [&](int kind, int managed) {
      std::vector<double> all = samples[kind][0][managed];
      all.insert(all.end(), samples[kind][1][managed].begin(), samples[kind][1][managed].end());
      return all;
    };
    // The copies' own difference, which the crossover removes: copy A's median minus copy B's, both plain.
    auto copy_bias = [&](int kind) {
      return bench::median(samples[kind][1][0]) - bench::median(samples[kind][0][0]);
    };

    // The bookkeeping alone: the same calls a managed frame makes around its inference.
    models[0].setTarget(t);
    models[2].setTarget(t);
    auto& manager = *models[0].runtimeManager();
    std::vector<double> manager_frame, arbiter_frame, governor_apply;
    const auto& state = manager.profile().entries[static_cast<std::size_t>(manager.before().entry)].hw;
    manager.after(1.0);
    for (int i = 0; i < 20 * frames; ++i) {
      auto a = Clock::now();
      (void)manager.before();
      manager.after(1.0);
      auto b = Clock::now();
      (void)arbiter->decide("camera");
      models[2].runtimeManager()->after(1.0);
      arbiter->done("camera");
      auto d = Clock::now();
      gov->apply(state);  // unchanged: what a steady frame's knob write costs
      auto e = Clock::now();
      manager_frame.push_back(us(a, b));
      arbiter_frame.push_back(us(b, d));
      governor_apply.push_back(us(d, e));
    }

    json out = {{"package", argv[1]},
                {"operating_point", point},
                {"frames",
                 {{"direct", summary(pooled(0, 0))},
                  {"managed_with_governor", summary(pooled(0, 1))},
                  {"managed_in_arbiter", summary(pooled(1, 1))},
                  {"overhead_with_governor_us", overhead(0)},
                  {"overhead_in_arbiter_us", overhead(1)},
                  {"copy_bias_governor_pair_us", copy_bias(0)},
                  {"copy_bias_arbiter_pair_us", copy_bias(1)},
                  {"method", "crossover of two copies per kind, 8 blocks, difference of medians averaged over roles"}}},
                {"bookkeeping",
                 {{"manager_before_after", summary(manager_frame)}, {"arbiter_decide_after_done", summary(arbiter_frame)},
                  {"simulated_governor_apply_unchanged", summary(governor_apply)}}}};
    std::cout << out.dump(1) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_managed_frame: " << e.what() << "\n";
    return 1;
  }
}
