// What the runtime manager adds to a frame (issue: no work on the hot path that need not be there). Two
// measurements, side by side in one process, one JSON object on stdout:
//   frames:      infer() on a plain model against a managed one (setTarget, a simulated governor; and the same
//                joined to an arbiter with a second model mid-frame), interleaved frame by frame on the same
//                input; the managed frame's overhead is the difference of the medians.
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
    auto plain = dyndnn::DynamicModel::load(argv[1]);
    auto managed_model = dyndnn::DynamicModel::load(argv[1]);
    auto arbitrated_model = dyndnn::DynamicModel::load(argv[1]);
    auto platform = std::make_shared<dyndnn::hw::SimulatedPlatform>(dyndnn::hw::xavierNxProfile());
    std::shared_ptr<dyndnn::hw::Governor> gov = dyndnn::hw::makeSimulatedGovernor(platform);
    dyndnn::runtime::Target t;
    t.latency_ms = 1e6;
    t.objective = dyndnn::runtime::Objective::LeastEnergy;  // every entry ties: the first, the smallest point
    auto arbiter = std::make_shared<dyndnn::runtime::HardwareArbiter>(gov);
    for (auto* m : {&managed_model, &arbitrated_model}) {
      dyndnn::RuntimeOptions o;
      o.profile = profileFor(*m);
      o.governor = gov;
      if (m == &arbitrated_model) {
        o.arbiter = arbiter;
        o.registration = {"camera", 1, nullptr, {}, ""};
      }
      m->setRuntime(std::move(o));
      m->setTarget(t);
    }
    auto other = std::make_shared<dyndnn::runtime::RuntimeManager>(profileFor(plain), t);
    const int other_id = arbiter->add({"other", 0, other, {}, ""});
    (void)arbiter->decide(other_id);  // mid-frame for the whole run: its frequency is a floor for the camera

    const int channels = plain.info().input.channels;
    (void)managed_model.infer(at::rand({1, channels, 32, 32}));  // the first decision: the input takes its resolution
    const int r = managed_model.activeConfig().r;
    const at::Tensor x = at::rand({1, channels, r, r});
    (void)arbitrated_model.infer(x);
    plain.setSubnet(managed_model.activeName());  // the same sub-network as the managed models run
    if (arbitrated_model.activeName() != managed_model.activeName())
      throw std::runtime_error("the two managed models chose different operating points");

    std::vector<double> direct, with_governor, in_arbiter;
    // Interleaved, all three seeing the same machine state, in an order that rotates every frame (the model run
    // right after another one finds the caches as that one left them).
    std::vector<std::function<void()>> kinds{[&] { (void)plain.infer(x); }, [&] { (void)managed_model.infer(x); },
                                             [&] { (void)arbitrated_model.infer(x); }};
    std::vector<std::vector<double>*> into{&direct, &with_governor, &in_arbiter};
    for (int i = 0; i < frames + 50; ++i)
      for (int k = 0; k < 3; ++k) {
        const int which = (i + k) % 3;
        const auto a = Clock::now();
        kinds[static_cast<std::size_t>(which)]();
        if (i >= 50) into[static_cast<std::size_t>(which)]->push_back(us(a, Clock::now()));  // after a warm-up
      }

    // The bookkeeping alone: the same calls a managed frame makes around its inference.
    auto& manager = *managed_model.runtimeManager();
    std::vector<double> manager_frame, arbiter_frame, governor_apply;
    const auto& state = manager.profile().entries[static_cast<std::size_t>(manager.before().entry)].hw;
    manager.after(1.0);
    for (int i = 0; i < 20 * frames; ++i) {
      auto a = Clock::now();
      (void)manager.before();
      manager.after(1.0);
      auto b = Clock::now();
      (void)arbiter->decide("camera");
      arbitrated_model.runtimeManager()->after(1.0);
      arbiter->done("camera");
      auto d = Clock::now();
      gov->apply(state);  // unchanged: what a steady frame's knob write costs
      auto e = Clock::now();
      manager_frame.push_back(us(a, b));
      arbiter_frame.push_back(us(b, d));
      governor_apply.push_back(us(d, e));
    }

    json out = {{"package", argv[1]},
                {"operating_point", managed_model.activeName()},
                {"frames",
                 {{"direct", summary(direct)},
                  {"managed_with_governor", summary(with_governor)},
                  {"managed_in_arbiter", summary(in_arbiter)},
                  {"overhead_with_governor_us", bench::median(with_governor) - bench::median(direct)},
                  {"overhead_in_arbiter_us", bench::median(in_arbiter) - bench::median(direct)}}},
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
