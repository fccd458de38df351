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

#include "cli/command.hpp"
#include "cli/runtime_profiling.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn::cli {
namespace {

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
  Command cmd("run",
              "FILE --target-ms T [--min-acc A] [--power-w P] [--objective most-accuracy|least-energy]\n"
              "                  [--frames N] [--trace OUT.json] [--profile PROFILE.json] [--policy dyndnn|fixed:OP|hill-climb]\n"
              "                  [--budget-at FRAME:MS]... [--competitor FROM:TO] [--data DIR] [--json]",
              "Runs the runtime manager on the model's own test frames (IDX test set for 1-channel models, random "
              "input otherwise): before every frame it picks the operating point and the thread count, then times "
              "the frame.");
  std::string file, objective = "most-accuracy", trace_path, profile_path, pname = "dyndnn", budget_at, competitor_at,
                    data = "/usr/share/datasets/fashion-mnist", slowdown = "per-threads";
  double latency_ms = 0, fps = 0, min_acc = 0, power_w = 0;
  int frames_n = 1000;
  bool json = false, placements = false;
  cmd.addFile(file);
  auto* o_latency = cmd->add_option("--target-ms", latency_ms, "per-frame latency budget (ms)")->type_name("T");
  auto* o_fps = cmd->add_option("--fps", fps, "frame-rate target instead of --target-ms (budget 1000/F ms)")
                    ->type_name("F");
  auto* o_acc = cmd->add_option("--min-acc", min_acc, "top-1 floor (%)")->type_name("A");
  auto* o_power = cmd->add_option("--power-w", power_w, "power cap (W)")->type_name("P");
  cmd->add_option("--objective", objective, "most-accuracy (within the budget and floors) or least-energy")
      ->type_name("O")
      ->check(oneOf({"most-accuracy", "least-energy"}))
      ->capture_default_str();
  cmd->add_option("--frames", frames_n, "frames to run")->type_name("N")->check(positive())
      ->capture_default_str();
  cmd->add_flag("--placements", placements,
                "the quick profile also pins one thread to each CPU (as `dyndnn profile --placements`), so the "
                "manager can move off a core another process takes");
  cmd->add_option("--profile", profile_path, "profile from `dyndnn profile` (default: a quick one measured now, "
                                              "10 runs per entry)")
      ->type_name("PROFILE.json");
  cmd->add_option("--policy", pname,
                  "dyndnn, fixed:OP[/THREADS] (that op, on all cores unless THREADS is given), hill-climb "
                  "(Dynamic-OFA's, all cores)")
      ->type_name("P")
      ->capture_default_str();
  cmd->add_option("--budget-at", budget_at, "from frame F on, the budget is MS (a comma list: 300:20,600:15)")
      ->type_name("F:MS");
  cmd->add_option("--competitor", competitor_at,
                  "from frame A to B a busy-loop process pinned to the last CPU competes (contention test; a comma "
                  "list of spans)")
      ->type_name("A:B");
  cmd->add_option("--trace", trace_path, "write every frame's decision, reason, latency and slowdown estimate")
      ->type_name("OUT.json");
  cmd->add_option("--slowdown", slowdown,
                  "per-threads (one estimator per thread count, re-probed when stale) or global (one factor for "
                  "everything, as ALERT)")
      ->type_name("M")
      ->check(oneOf({"per-threads", "global"}))
      ->capture_default_str();
  cmd->add_option("--data", data, "IDX test images as the frames of 1-channel models")->type_name("DIR")
      ->capture_default_str();
  cmd.addJson(json);
  if (!cmd.parse(argv)) return 0;
  auto given = [](CLI::Option* o, double v) { return o->count() ? std::optional<double>(v) : std::nullopt; };
  runtime::Target target;
  target.latency_ms = given(o_latency, latency_ms);
  target.fps = given(o_fps, fps);
  target.min_accuracy = given(o_acc, min_acc);
  target.power_w = given(o_power, power_w);
  if (objective == "least-energy") target.objective = runtime::Objective::LeastEnergy;
  target.validate();
  if (!target.budgetMs()) throw InvalidArgument("--target-ms (or --fps) is required (see dyndnn run --help)");
  const auto budget_changes = parsePairs(budget_at, "--budget-at");
  const auto competitor_span = parsePairs(competitor_at, "--competitor");

  if (pname != "dyndnn" && pname != "hill-climb" && pname.rfind("fixed:", 0) != 0)
    throw InvalidArgument(fmt::format("--policy: '{}' is not dyndnn, fixed:OP or hill-climb", pname));
  auto model = DynamicModel::load(file, {});
  std::shared_ptr<hw::Governor> governor = hw::makeAffinityGovernor();
  std::shared_ptr<hw::PowerSensor> sensor;
  if (auto s = hw::detectPowerSensors(); !s.empty()) sensor = std::move(s.front());
  const Frames frames = loadFrames(model, data, 10000);

  runtime::Profile profile;
  if (!profile_path.empty()) {
    profile = runtime::Profile::load(profile_path);
  } else {
    ProfilingOptions po;
    po.runs = 10;
    po.warmup = 3;
    po.states = placements ? placementStates(*governor) : threadStates(*governor);
    measureProfileWithProgress(model, governor.get(), sensor.get(), frames, po, profile, !json);
    profile.model = file;
    profile.device = "this machine (quick profile)";
  }
  const auto states = profile.hardwareStates();
  runtime::HardwareState all_cores = states.front();
  for (const auto& s : states)
    if (hw::threadsOf(s) > hw::threadsOf(all_cores)) all_cores = s;
  std::unique_ptr<runtime::Policy> policy;
  if (pname == "dyndnn") policy = runtime::makeManagerPolicy();
  else if (pname == "hill-climb") policy = runtime::makeHillClimbPolicy(all_cores);
  else if (pname.rfind("fixed:", 0) == 0) {
    std::string op = pname.substr(6);
    runtime::HardwareState hw = all_cores;
    if (const auto slash = op.rfind('/'); slash != std::string::npos) {  // fixed:OP/THREADS
      try {
        hw[hw::knobs::kThreads] = std::stoi(op.substr(slash + 1));
      } catch (const std::exception&) {
        throw InvalidArgument(fmt::format("--policy {}: '{}' is not a thread count", pname, op.substr(slash + 1)));
      }
      op = op.substr(0, slash);
    }
    policy = runtime::makeFixedPolicy(op, hw);
  }
  else throw InvalidArgument(fmt::format("--policy: '{}' is not dyndnn, fixed:OP or hill-climb", pname));

  RuntimeOptions runtime_options;
  runtime_options.profile = profile;
  runtime_options.governor = governor;
  runtime_options.sensor = sensor;
  runtime_options.policy = std::move(policy);
  model.setRuntime(std::move(runtime_options));
  runtime::RuntimeManager& manager = *model.runtimeManager();
  manager.keepTrace(true, static_cast<std::size_t>(frames_n));  // the whole run goes into --trace
  manager.setSlowdownPerThreads(slowdown == "per-threads");
  model.setTarget(target);
  Competitor competitor;
  const int last_cpu = hw::detectCpuTopology().online.back();
  const int channels = model.info().input.channels;
  const at::Tensor random_input = at::rand({1, channels, 64, 64});
  std::map<std::string, int> usage;
  int correct = 0, labelled = 0;
  auto last_draw = std::chrono::steady_clock::now();
  const bool live = !json && isatty(STDERR_FILENO);
  for (int i = 0; i < frames_n; ++i) {
    for (const auto& [at, ms] : budget_changes)
      if (static_cast<int>(at) == i) {
        runtime::Target t = target;
        t.latency_ms = ms;
        t.fps.reset();
        model.setTarget(t);
        target = t;
      }
    for (std::size_t c = 0; c < competitor_span.size(); ++c) {
      if (static_cast<int>(competitor_span[c].first) == i) competitor.start(last_cpu);
      if (static_cast<int>(competitor_span[c].second) == i) competitor.stop();
    }
    at::Tensor logits = frames.count > 0 ? model.infer(frames.view(i)) : model.infer(random_input);
    if (frames.count > 0) {
      ++labelled;
      correct += logits.argmax(1).item<std::int64_t>() == frames.labels[static_cast<std::size_t>(i % frames.count)];
    }
    const auto st = manager.stats();
    ++usage[st.current_op + fmt::format(" threads={}", hw::threadsOf(st.current_hw))];
    const auto now = std::chrono::steady_clock::now();
    if (live && now - last_draw > std::chrono::milliseconds(100)) {
      last_draw = now;
      fmt::print(stderr, "\rframe {:>6}/{} {:<14} threads={} slowdown={:.2f}+-{:.2f} misses={} switches={}   ", i + 1,
                 frames_n, st.current_op, hw::threadsOf(st.current_hw), st.slowdown,
                 st.slowdown_std, st.budget_misses, st.switches);
    }
  }
  competitor.stop();
  if (live) fmt::print(stderr, "\n");
  governor->restore();
  const auto st = manager.stats();
  if (!trace_path.empty()) manager.writeTrace(trace_path);
  double lat = 0, acc = 0;
  const auto trace = manager.trace();
  for (const auto& r : trace) {
    lat += r.latency_ms;
    acc += profile.entries[static_cast<std::size_t>(profile.find(r.op, r.hw))].accuracy;
  }
  const double n = static_cast<double>(std::max<std::size_t>(1, trace.size()));
  nlohmann::json summary = {{"frames", st.frames}, {"policy", st.policy}, {"target", target.describe()},
                            {"hit_rate", 1.0 - static_cast<double>(st.budget_misses) / n},
                            {"mean_latency_ms", lat / n}, {"switches", st.switches},
                            {"mean_profile_accuracy", acc / n}, {"jumps_detected", st.jumps_detected}, {"probes", st.probes},
                            {"unmet", runtime::unmetToString(st.unmet)}};
  if (labelled) summary["measured_top1"] = 100.0 * correct / labelled;
  if (sensor) summary["energy_j"] = st.energy_j;
  summary["usage"] = usage;
  if (json) {
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
