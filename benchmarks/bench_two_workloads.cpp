// Two workloads for real on this machine: two DynamicModels in one process, each on its own thread with its own
// frame rate and latency budget (a "detector" with a tight budget and a "classifier" with a looser one), run in
// four set-ups side by side:
//   arbiter              one runtime::HardwareArbiter: each model is granted its own core (exclusive "affinity"
//                        placements, the detector first), its manager picks the operating point within it
//   independent_pinning  each model's own manager chooses cores (affinity) and threads alone, from the same
//                        profile: the per-model managers fighting over the same knobs
//   independent_linux    each model's own manager chooses threads only; Linux places the threads
//   fixed_largest        no manager: the most accurate operating point on one thread each, Linux places them
//
//   bench_two_workloads [--package P] [--data DIR] [--frames N] [--profile-runs R] [--json OUT]
//                       [--det-budget-ms B] [--cls-budget-ms B]
//
// Budgets default to multiples of the largest operating point's one-thread latency measured here first (1.3x for
// the detector, 2.6x for the classifier); each model's frame period equals its budget. N detector frames per
// set-up (default 6000); the classifier runs for the same time. Reported per model: share of frames within
// budget, latency median / p95, mean top-1 of the chosen operating points and measured top-1 on the frames'
// labels, and the process's CPU time per set-up (this machine has no power sensor, so CPU time is the only
// energy proxy). Needs two usable CPUs (exits 77, "skipped", with fewer). Run it on an otherwise idle machine, in
// the environment a host gives it (no OpenMP variable is set).

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "dyndnn/dyndnn.hpp"
#include "dyndnn/hw/affinity.hpp"

#include "bench_stats.hpp"
#include "dyndnn/tools/idx_dataset.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace rt = dyndnn::runtime;

using dyndnn::hw::knobs::kAffinity;
using dyndnn::hw::knobs::kThreads;
namespace {

constexpr int kSkipped = 77;  // nothing to measure here (one CPU); ctest's SKIP_RETURN_CODE

struct Options {
  std::string package = "models/fmnist_ofa_mbv3.dyn";
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string json_out = "benchmarks/results/two_workloads_real.json";
  int frames = 6000, profile_runs = 200;
  double det_budget_ms = 0, cls_budget_ms = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw dyndnn::InvalidArgument(fmt::format("{} needs a value", a));
      return argv[++i];
    };
    if (a == "--package") o.package = value();
    else if (a == "--data") o.data = value();
    else if (a == "--json") o.json_out = value();
    else if (a == "--frames") o.frames = std::stoi(value());
    else if (a == "--profile-runs") o.profile_runs = std::stoi(value());
    else if (a == "--det-budget-ms") o.det_budget_ms = std::stod(value());
    else if (a == "--cls-budget-ms") o.cls_budget_ms = std::stod(value());
    else throw dyndnn::InvalidArgument(fmt::format("unknown option {} (see the comment at the top of {})", a, __FILE__));
  }
  if (o.frames < 100) throw dyndnn::InvalidArgument("--frames must be at least 100");
  if (o.profile_runs < 2) throw dyndnn::InvalidArgument("--profile-runs must be at least 2");
  return o;
}

struct Frames {
  dyndnn::IdxImages images;
  std::vector<std::uint8_t> labels;
  dyndnn::ImageView view(std::size_t i) const {
    const std::size_t k = i % static_cast<std::size_t>(images.count);
    return {images.pixels.data() + k * images.rows * images.cols, images.rows, images.cols, 1, 0};
  }
};

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

using bench::percentile;

// One model's workload: a frame every `period` (late frames start at once), until `stop`.
struct Workload {
  std::string name;
  double budget_ms = 0;
  dyndnn::DynamicModel* model = nullptr;
  std::shared_ptr<dyndnn::hw::Governor> governor;  // restored on the workload's own thread (affinity is per thread)
  std::size_t first_frame = 0;                     // where in the test set this workload starts
  int correct = 0, frames = 0;
};

void runWorkload(Workload& w, const Frames& frames, Clock::time_point start, const std::atomic<bool>& stop,
                 int max_frames) {
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(w.budget_ms));
  for (int i = 0; i < max_frames && !stop; ++i) {
    std::this_thread::sleep_until(start + i * period);
    const std::size_t k = w.first_frame + static_cast<std::size_t>(i);
    const at::Tensor logits = w.model->infer(frames.view(k));
    w.correct += logits.argmax(1).item<std::int64_t>() == frames.labels[k % frames.labels.size()];
    ++w.frames;
  }
  if (w.governor) w.governor->restore();
}

// Per model: within-budget share, latency percentiles, accuracy, usage, and 20-frame windows for the plot.
json summarise(const Workload& w) {
  const auto manager = w.model->runtimeManager();
  const auto trace = manager->trace();
  const auto& profile = manager->profile();
  std::vector<double> lat;
  double acc = 0;
  int within = 0;
  std::map<std::string, int> usage;
  json windows = json::array();
  int win_within = 0, win_n = 0;
  double win_acc = 0, win_lat = 0;
  for (const auto& r : trace) {
    lat.push_back(r.latency_ms);
    const double a = profile.entries[static_cast<std::size_t>(profile.find(r.op, r.hw))].accuracy;
    acc += a;
    within += r.latency_ms <= w.budget_ms;
    std::string hw;
    for (const auto& [k, v] : r.hw)
      hw += fmt::format(" {}={}", k, k == kAffinity ? fmt::format("{}", dyndnn::hw::cpusOfMask(v)) : std::to_string(v));
    ++usage[r.op + hw];
    win_within += r.latency_ms <= w.budget_ms;
    win_acc += a;
    win_lat += r.latency_ms;
    if (++win_n == 20) {
      windows.push_back({{"within", win_within / 20.0}, {"accuracy", win_acc / 20}, {"mean_ms", win_lat / 20}});
      win_within = win_n = 0;
      win_acc = win_lat = 0;
    }
  }
  const double n = std::max<double>(1, static_cast<double>(trace.size()));
  const auto st = manager->stats();
  return {{"frames", trace.size()},
          {"budget_ms", w.budget_ms},
          {"within_budget", within / n},
          {"median_ms", percentile(lat, 0.5)},
          {"p95_ms", percentile(lat, 0.95)},
          {"mean_profile_accuracy", acc / n},
          {"measured_top1", 100.0 * w.correct / std::max(1, w.frames)},
          {"switches", st.switches},
          {"usage", usage},
          {"windows", windows}};
}

rt::Profile measure(dyndnn::DynamicModel& model, dyndnn::hw::Governor* governor,
                    std::vector<rt::HardwareState> states, const Frames& frames, int runs) {
  dyndnn::ProfilingOptions po;
  po.warmup = 20;
  po.runs = runs;
  po.states = std::move(states);
  std::size_t k = 0;
  po.run_frame = [&](dyndnn::DynamicModel& m) { m.infer(frames.view(k++)); };
  po.on_entry = [](std::size_t done, std::size_t total, double s) {
    std::cerr << fmt::format("\rprofiling {}/{} entries ({:.0f} s)", done, total, s) << std::flush;
  };
  rt::Profile p;
  dyndnn::measureProfile(model, governor, nullptr, po, p);
  std::cerr << "\n";
  p.device = "this machine (measured)";
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    cpu_set_t allowed;  // usable CPUs: online and in this process's affinity mask (taskset, cgroups)
    CPU_ZERO(&allowed);
    sched_getaffinity(0, sizeof(allowed), &allowed);
    std::vector<int> usable;
    for (int c : dyndnn::hw::detectCpuTopology().online)
      if (CPU_ISSET(c, &allowed)) usable.push_back(c);
    if (usable.size() < 2) {
      std::cerr << "bench_two_workloads: skipped: two workloads need two usable CPUs, this process has "
                << usable.size() << "\n";
      return kSkipped;
    }
    const int c0 = usable[0], c1 = usable[1];
    const std::int64_t m0 = dyndnn::hw::cpuMask({c0}), m1 = dyndnn::hw::cpuMask({c1}),
                       both = dyndnn::hw::cpuMask({c0, c1});
    Frames frames{dyndnn::readIdxImages(o.data + "/t10k-images-idx3-ubyte.gz"),
                  dyndnn::readIdxLabels(o.data + "/t10k-labels-idx1-ubyte.gz")};

    auto detector = dyndnn::DynamicModel::load(o.package, {});
    auto classifier = dyndnn::DynamicModel::load(o.package, {});
    // One profile for both (same package, same machine), as `dyndnn profile` would give a user: cores x threads,
    // and threads alone for the set-ups that leave placement to Linux.
    rt::Profile pinned, unpinned;
    {
      auto gov = dyndnn::hw::makeAffinityGovernor();
      pinned = measure(detector, gov.get(),
                       {{{kAffinity, m0}, {kThreads, 1}}, {{kAffinity, m1}, {kThreads, 1}},
                        {{kAffinity, both}, {kThreads, 2}}},
                       frames, o.profile_runs);
      gov->restore();
      unpinned = measure(detector, nullptr, {{{kThreads, 1}}, {{kThreads, 2}}}, frames, o.profile_runs);
    }
    const auto ops = pinned.operatingPoints();
    const std::string largest = *std::max_element(ops.begin(), ops.end(), [&](const auto& a, const auto& b) {
      return pinned.entries[pinned.find(a, {{kThreads, 1}, {kAffinity, m0}})].accuracy <
             pinned.entries[pinned.find(b, {{kThreads, 1}, {kAffinity, m0}})].accuracy;
    });
    const double largest_1t = unpinned.entries[unpinned.find(largest, {{kThreads, 1}})].latency_ms;
    const double det_budget = o.det_budget_ms > 0 ? o.det_budget_ms : 1.3 * largest_1t;
    const double cls_budget = o.cls_budget_ms > 0 ? o.cls_budget_ms : 2.6 * largest_1t;
    fmt::print("largest operating point {} on one thread: {:.3f} ms; budgets: detector {:.3f} ms, classifier {:.3f} ms\n",
               largest, largest_1t, det_budget, cls_budget);

    json result = {{"machine", "this machine (measured, not simulated), 2 usable CPUs, no power sensor"},
                   {"package", o.package},
                   {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(unset)"},
                   {"frames_detector", o.frames},
                   {"budgets_ms", {{"detector", det_budget}, {"classifier", cls_budget}}},
                   {"largest_op", largest},
                   {"profile_pinned", json::parse(pinned.toJson())},
                   {"profile_unpinned", json::parse(unpinned.toJson())}};

    for (const std::string setup : {"arbiter", "independent_pinning", "independent_linux", "fixed_largest"}) {
      const bool pin = setup == "arbiter" || setup == "independent_pinning";
      std::vector<Workload> work(2);
      work[0].name = "detector";
      work[0].budget_ms = det_budget;
      work[1].name = "classifier";
      work[1].budget_ms = cls_budget;
      work[1].first_frame = 5000;
      dyndnn::DynamicModel* models[2] = {&detector, &classifier};
      std::shared_ptr<rt::HardwareArbiter> arbiter;
      if (setup == "arbiter") arbiter = std::make_shared<rt::HardwareArbiter>();
      for (int i = 0; i < 2; ++i) {
        if (pin) work[i].governor = dyndnn::hw::makeAffinityGovernor();
        dyndnn::RuntimeOptions runtime_options;  // replaces the previous setup's runtime (it leaves its arbiter)
        runtime_options.profile = pin ? pinned : unpinned;
        runtime_options.governor = work[i].governor;
        if (setup == "fixed_largest") runtime_options.policy = rt::makeFixedPolicy(largest, {{kThreads, 1}});
        if (arbiter) {
          runtime_options.arbiter = arbiter;
          runtime_options.registration = {work[i].name, i == 0 ? 1 : 0, nullptr,
                                          {{{kAffinity, m0}}, {{kAffinity, m1}}},
                                          kAffinity};
        }
        models[i]->setRuntime(std::move(runtime_options));
        auto manager = models[i]->runtimeManager();
        manager->keepTrace(true, static_cast<std::size_t>(o.frames) + 10);
        manager->setSlowdownPerThreads(true);
        rt::Target t;
        t.latency_ms = work[i].budget_ms;
        models[i]->setTarget(t);
        work[i].model = models[i];
      }
      std::atomic<bool> stop{false};
      const double cpu0 = cpuSeconds();
      const auto start = Clock::now() + std::chrono::milliseconds(20);
      std::thread cls([&] { runWorkload(work[1], frames, start, stop, 1 << 30); });
      runWorkload(work[0], frames, start, stop, o.frames);
      stop = true;
      cls.join();
      const double wall = std::chrono::duration<double>(Clock::now() - start).count();
      const double cpu = cpuSeconds() - cpu0;
      json s = {{"wall_s", wall}, {"cpu_s", cpu}};
      for (auto& w : work) s[w.name] = summarise(w);
      s["cpu_ms_per_frame"] = 1000 * cpu / (work[0].frames + work[1].frames);
      if (arbiter)
        for (int id : arbiter->ids())
          s["granted"].push_back(dyndnn::hw::cpusOfMask(arbiter->granted(id).at(kAffinity)));
      fmt::print("{:<20} detector {:5.1f}% within budget, top-1 {:.2f} | classifier {:5.1f}% within, top-1 {:.2f} | "
                 "CPU {:.2f} s for {:.1f} s\n",
                 setup, 100 * s["detector"]["within_budget"].get<double>(),
                 s["detector"]["mean_profile_accuracy"].get<double>(), 100 * s["classifier"]["within_budget"].get<double>(),
                 s["classifier"]["mean_profile_accuracy"].get<double>(), cpu, wall);
      result["setups"][setup] = s;
    }
    std::ofstream(o.json_out) << result.dump(1) << "\n";
    fmt::print("wrote {}\n", o.json_out);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_two_workloads: " << e.what() << "\n";
    return 2;
  }
}
