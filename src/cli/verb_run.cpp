// dyndnn run: the runtime manager on the model's own test frames, with a live status line and a summary.

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/args.hpp"
#include "cli/runtime_profiling.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/managed_model.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn::cli {
namespace {

constexpr const char* kHelp = R"(usage: dyndnn run FILE --target-ms T [--min-acc A] [--power-w P] [--objective most-accuracy|least-energy]
                  [--frames N] [--trace OUT.json] [--profile PROFILE.json] [--policy dyndnn|fixed:OP|hill-climb]
                  [--budget-at FRAME:MS]... [--competitor FROM:TO] [--data DIR] [--json]

Runs the runtime manager on the model's own test frames (IDX test set for 1-channel models, random input
otherwise): before every frame it picks the operating point and the thread count, then times the frame.
  --target-ms T     per-frame latency budget; --min-acc A top-1 floor (%); --power-w P power cap
  --frames N        frames to run (default 1000)
  --profile P       profile from `dyndnn profile` (default: a quick one measured now, 10 runs per entry)
  --policy          dyndnn (default), fixed:OP[/THREADS] (that op, on all cores unless THREADS is given),
                    hill-climb (Dynamic-OFA's, all cores)
  --budget-at F:MS  from frame F on, the budget is MS (repeatable as a comma list: 300:20,600:15)
  --competitor A:B  from frame A to B a busy-loop process pinned to the last CPU competes (contention test)
  --trace OUT.json  every frame's decision, reason, latency and slowdown estimate
  --slowdown M      per-threads (default: one estimator per thread count, re-probed when stale) or global
                    (one factor for everything, as ALERT)
)";

std::vector<std::pair<std::uint64_t, double>> parsePairs(const std::string& text, const char* flag) {
  std::vector<std::pair<std::uint64_t, double>> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const auto colon = item.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      out.push_back({std::stoull(item.substr(0, colon)), std::stod(item.substr(colon + 1))});
    } catch (const std::exception&) {
      throw InvalidArgument(fmt::format("{}: '{}' is not FRAME:VALUE (e.g. 300:20)", flag, item));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// A busy loop on one CPU in a child process (the contention experiment's competitor).
class Competitor {
 public:
  void start(int cpu) {
    if (pid_ > 0) return;
    pid_ = fork();
    if (pid_ < 0) throw HardwareError("competitor: fork failed");
    if (pid_ == 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
      volatile unsigned long x = 0;
      for (;;) x = x + 1;
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  ~Competitor() { stop(); }

 private:
  pid_t pid_ = -1;
};

}  // namespace

int runRun(const std::vector<std::string>& argv) {
  Args args(argv, {"help", "json"},
            {"target-ms", "min-acc", "power-w", "objective", "frames", "trace", "profile", "policy", "budget-at",
             "competitor", "data", "fps", "slowdown"});
  if (args.has("help")) {
    fmt::print("{}", kHelp);
    return 0;
  }
  if (args.positional().size() != 1) throw InvalidArgument("expected exactly one FILE (see --help)");
  auto number = [&](const char* name) -> std::optional<double> {
    if (!args.has(name)) return std::nullopt;
    try {
      return std::stod(args.get(name));
    } catch (const std::exception&) {
      throw InvalidArgument(fmt::format("--{}: '{}' is not a number", name, args.get(name)));
    }
  };
  runtime::Target target;
  target.latency_ms = number("target-ms");
  target.fps = number("fps");
  target.min_accuracy = number("min-acc");
  target.power_w = number("power-w");
  const std::string objective = args.get("objective", "most-accuracy");
  if (objective == "least-energy") target.objective = runtime::Objective::LeastEnergy;
  else if (objective != "most-accuracy")
    throw InvalidArgument(fmt::format("--objective: '{}' is neither most-accuracy nor least-energy", objective));
  target.validate();
  if (!target.budgetMs()) throw InvalidArgument("--target-ms (or --fps) is required (see --help)");
  const int frames_n = args.getInt("frames", 1000);
  if (frames_n < 1) throw InvalidArgument("--frames must be >= 1");
  const auto budget_changes = parsePairs(args.get("budget-at"), "--budget-at");
  const auto competitor_span = parsePairs(args.get("competitor"), "--competitor");

  const std::string pname = args.get("policy", "dyndnn");
  if (pname != "dyndnn" && pname != "hill-climb" && pname.rfind("fixed:", 0) != 0)
    throw InvalidArgument(fmt::format("--policy: '{}' is not dyndnn, fixed:OP or hill-climb", pname));
  auto model = DynamicModel::load(args.positional()[0], {});
  std::shared_ptr<hw::Governor> governor = hw::makeAffinityGovernor();
  std::shared_ptr<hw::PowerSensor> sensor;
  if (auto s = hw::detectPowerSensors(); !s.empty()) sensor = std::move(s.front());
  const Frames frames = loadFrames(model, args.get("data", "/usr/share/datasets/fashion-mnist"), 10000);

  runtime::Profile profile;
  if (args.has("profile")) {
    profile = runtime::Profile::load(args.get("profile"));
  } else {
    ProfilingOptions po;
    po.runs = 10;
    po.warmup = 3;
    po.states = threadStates(*governor);
    measureProfileWithProgress(model, governor.get(), sensor.get(), frames, po, profile, !args.has("json"));
    profile.model = args.positional()[0];
    profile.device = "this machine (quick profile)";
  }
  const auto states = profile.hardwareStates();
  runtime::HardwareState all_cores = states.front();
  for (const auto& s : states)
    if (s.count("threads") && s.at("threads") > all_cores["threads"]) all_cores = s;
  std::unique_ptr<runtime::Policy> policy;
  if (pname == "dyndnn") policy = runtime::makeManagerPolicy();
  else if (pname == "hill-climb") policy = runtime::makeHillClimbPolicy(all_cores);
  else if (pname.rfind("fixed:", 0) == 0) {
    std::string op = pname.substr(6);
    runtime::HardwareState hw = all_cores;
    if (const auto slash = op.rfind('/'); slash != std::string::npos) {  // fixed:OP/THREADS
      try {
        hw["threads"] = std::stoi(op.substr(slash + 1));
      } catch (const std::exception&) {
        throw InvalidArgument(fmt::format("--policy {}: '{}' is not a thread count", pname, op.substr(slash + 1)));
      }
      op = op.substr(0, slash);
    }
    policy = runtime::makeFixedPolicy(op, hw);
  }
  else throw InvalidArgument(fmt::format("--policy: '{}' is not dyndnn, fixed:OP or hill-climb", pname));

  const std::string slowdown = args.get("slowdown", "per-threads");
  if (slowdown != "per-threads" && slowdown != "global")
    throw InvalidArgument(fmt::format("--slowdown: '{}' is neither per-threads nor global", slowdown));
  ManagedModel managed(model, profile, governor, sensor, std::move(policy));
  managed.manager().keepTrace(true, static_cast<std::size_t>(frames_n));  // the whole run goes into --trace
  managed.manager().setSlowdownPerThreads(slowdown == "per-threads");
  managed.setTarget(target);
  Competitor competitor;
  const int last_cpu = hw::detectCpuTopology().online.back();
  const int channels = model.info().input.channels;
  const at::Tensor random_input = at::rand({1, channels, 64, 64});
  std::map<std::string, int> usage;
  int correct = 0, labelled = 0;
  auto last_draw = std::chrono::steady_clock::now();
  const bool live = !args.has("json") && isatty(STDERR_FILENO);
  for (int i = 0; i < frames_n; ++i) {
    for (const auto& [at, ms] : budget_changes)
      if (static_cast<int>(at) == i) {
        runtime::Target t = target;
        t.latency_ms = ms;
        t.fps.reset();
        managed.setTarget(t);
        target = t;
      }
    for (std::size_t c = 0; c < competitor_span.size(); ++c) {
      if (static_cast<int>(competitor_span[c].first) == i) competitor.start(last_cpu);
      if (static_cast<int>(competitor_span[c].second) == i) competitor.stop();
    }
    at::Tensor logits = frames.count > 0 ? managed.infer(frames.view(i)) : managed.infer(random_input);
    if (frames.count > 0) {
      ++labelled;
      correct += logits.argmax(1).item<std::int64_t>() == frames.labels[static_cast<std::size_t>(i % frames.count)];
    }
    const auto st = managed.manager().stats();
    ++usage[st.current_op + fmt::format(" threads={}", st.current_hw.count("threads") ? st.current_hw.at("threads") : 0)];
    const auto now = std::chrono::steady_clock::now();
    if (live && now - last_draw > std::chrono::milliseconds(100)) {
      last_draw = now;
      fmt::print(stderr, "\rframe {:>6}/{} {:<14} threads={} slowdown={:.2f}+-{:.2f} misses={} switches={}   ", i + 1,
                 frames_n, st.current_op, st.current_hw.count("threads") ? st.current_hw.at("threads") : 0, st.slowdown,
                 st.slowdown_std, st.budget_misses, st.switches);
    }
  }
  competitor.stop();
  if (live) fmt::print(stderr, "\n");
  governor->restore();
  const auto st = managed.manager().stats();
  if (args.has("trace")) managed.manager().writeTrace(args.get("trace"));
  double lat = 0, acc = 0;
  const auto trace = managed.manager().trace();
  for (const auto& r : trace) {
    lat += r.latency_ms;
    acc += profile.entries[static_cast<std::size_t>(profile.find(r.op, r.hw))].accuracy;
  }
  const double n = static_cast<double>(std::max<std::size_t>(1, trace.size()));
  nlohmann::json summary = {{"frames", st.frames}, {"policy", st.policy}, {"target", target.describe()},
                            {"hit_rate", 1.0 - static_cast<double>(st.budget_misses) / n},
                            {"mean_latency_ms", lat / n}, {"switches", st.switches},
                            {"mean_profile_accuracy", acc / n}, {"jumps_detected", st.jumps_detected},
                            {"unmet", runtime::unmetToString(st.unmet)}};
  if (labelled) summary["measured_top1"] = 100.0 * correct / labelled;
  if (sensor) summary["energy_j"] = st.energy_j;
  summary["usage"] = usage;
  if (args.has("json")) {
    fmt::print("{}\n", summary.dump(2));
    return 0;
  }
  fmt::print("{} frames, policy {}, target {}\n", st.frames, st.policy, target.describe());
  fmt::print("  within budget {:.1f}%  mean latency {:.3f} ms  switches {}  slowdown jumps {}\n",
             100.0 * summary["hit_rate"].get<double>(), lat / n, st.switches, st.jumps_detected);
  fmt::print("  mean accuracy of the chosen operating points {:.2f}%{}\n", acc / n,
             labelled ? fmt::format(", measured top-1 on these frames {:.2f}%", 100.0 * correct / labelled) : "");
  if (st.unmet) fmt::print("  cannot meet: {} (best effort)\n", runtime::unmetToString(st.unmet));
  for (const auto& [k, v] : usage) fmt::print("  {:<28} {:>6} frames\n", k, v);
  return 0;
}

}  // namespace dyndnn::cli
