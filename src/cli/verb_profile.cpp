// dyndnn profile: latency (and power where a sensor exists) of every operating point x hardware state.

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/runtime_profiling.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/runtime.hpp"
#include "dyndnn/sim/simulation.hpp"

namespace dyndnn::cli {

int runProfile(const std::vector<std::string>& argv) {
  Command cmd("profile",
              "FILE [-o PROFILE.json] [--runs N] [--warmup N] [--threads-list 1,2] [--op NAME]... [--predict]\n"
              "                      [--data DIR] [--governor G] [--no-resume] [--json]",
              "Measures latency (mean, spread) of every operating point on every hardware state of this machine "
              "(thread counts through the affinity governor) and power where a sensor is readable, for the runtime "
              "manager.");
  std::string file, out = "PROFILE.json", data = "/usr/share/datasets/fashion-mnist", gname = "affinity";
  std::vector<int> threads_list;
  bool predict = false, no_resume = false, json = false, placements = false;
  ProfilingOptions po;
  po.runs = 30;
  po.warmup = 5;
  cmd.addFile(file);
  cmd->add_option("-o,--out", out,
                  "profile JSON; saved after every entry, so an interrupted run resumes where it stopped (unless "
                  "--no-resume)")
      ->type_name("FILE")
      ->capture_default_str();
  cmd->add_option("--runs", po.runs, "timed runs per entry")->type_name("N")->check(positive())
      ->capture_default_str();
  cmd->add_option("--warmup", po.warmup, "untimed runs first")->type_name("N")->check(nonNegative())
      ->capture_default_str();
  cmd->add_option("--threads-list", threads_list, "comma-separated thread counts (default: 1 .. usable CPUs)")
      ->type_name("L")
      ->delimiter(',')
      ->check(inRange(1, 4096));
  cmd->add_flag("--placements", placements,
                "also one thread pinned to each CPU, and every state with its CPU set (the affinity knob), so the "
                "runtime manager can move off a core another process takes")
      ->excludes(cmd->get_option("--threads-list"));
  cmd->add_option("--op", po.ops, "only this operating point (repeatable; default: all)")->type_name("NAME");
  cmd->add_flag("--predict", predict,
                "measure only the largest thread count fully and every other operating point on the others; fit "
                "latency from MACs (least squares) for the rest, and report the error on measured entries held out "
                "of the fit");
  cmd->add_flag("--no-resume", no_resume, "start afresh even if the profile file exists");
  cmd->add_option("--data", data, "IDX test images as input for 1-channel models")->type_name("DIR")
      ->capture_default_str();
  cmd->add_option("--governor", gname,
                  "affinity (this machine's thread counts), or a SIMULATED platform: simulated:xavier-nx (CPU, "
                  "1/2/4/6 threads), simulated:xavier-nx-gpu, simulated:odroid-xu3 (A7 and A15 clusters, 1-4 "
                  "threads), simulated:jetson-nano (A57 cluster, 1-4 threads, and the GPU): each operating point is "
                  "measured here on one thread and scaled by the platform model to every frequency x thread count "
                  "(labelled SIMULATED)")
      ->type_name("G")
      ->capture_default_str();
  cmd->add_flag("--json", json, "print the profile as JSON on stdout (no progress bar; messages go to stderr)");
  ModelOptions mo;
  cmd.addBackend(mo.backend);
  if (!cmd.parse(argv)) return 0;
  auto model = DynamicModel::load(file, mo);
  auto governor = hw::makeAffinityGovernor();
  po.checkpoint_path = out;
  auto all_states = placements ? placementStates(*governor) : threadStates(*governor);
  if (!threads_list.empty()) {
    all_states.clear();
    for (int t : threads_list) all_states.push_back({{hw::knobs::kThreads, t}});
  }
  std::shared_ptr<hw::PowerSensor> sensor;
  auto sensors = hw::detectPowerSensors();
  if (!sensors.empty()) sensor = std::move(sensors.front());
  const Frames frames = loadFrames(model, data, 2000);

  if (gname.rfind("simulated:", 0) == 0) {
    hw::PlatformProfile platform;
    std::vector<runtime::sim::Placement> placements;
    if (gname == "simulated:xavier-nx") {
      platform = hw::xavierNxProfile();
      placements = {{"cpu", {1, 2, 4, 6}}};
    } else if (gname == "simulated:xavier-nx-gpu") {
      platform = hw::xavierNxProfile();
      placements = {{"gpu", {1}}};
    } else if (gname == "simulated:odroid-xu3") {
      platform = hw::odroidXu3Profile();
      placements = {{"a7", {1, 2, 3, 4}, 0.3}, {"a15", {1, 2, 3, 4}}};
    } else if (gname == "simulated:jetson-nano") {
      platform = hw::jetsonNanoProfile();
      placements = {{"cpu", {1, 2, 3, 4}}, {"gpu", {1}, hw::kJetsonNanoGpuSpeed}};
    } else {
      throw InvalidArgument(fmt::format("--governor: unknown simulated platform '{}' (simulated:xavier-nx, "
                                        "simulated:xavier-nx-gpu, simulated:odroid-xu3, simulated:jetson-nano)",
                                        gname));
    }
    runtime::Profile here;
    po.states = {{{hw::knobs::kThreads, 1}}};
    measureProfileWithProgress(model, governor.get(), nullptr, frames, po, here, !json);
    std::vector<runtime::sim::SimOp> ops;
    for (const auto& e : here.entries) ops.push_back({e.op, e.macs, e.accuracy, e.latency_ms});
    auto sim = runtime::sim::simulatedProfile(platform, ops, placements);
    sim.model = file;
    sim.device += " (one-thread latencies measured on this machine, scaled by the platform model; " +
                  platform.provenance + ")";
    governor->restore();
    sim.save(out);
    if (json) {
      fmt::print("{}\n", sim.toJson());
      return 0;
    }
    fmt::print("{} SIMULATED entries ({} operating points) -> {}\n", sim.entries.size(), ops.size(), out);
    return 0;
  }
  if (gname != "affinity")
    throw InvalidArgument(fmt::format("--governor: '{}' is not affinity or simulated:PLATFORM (see --help)", gname));

  runtime::Profile profile;
  if (!no_resume && std::filesystem::exists(out)) {
    profile = runtime::Profile::load(out);
    if (profile.model != file)
      throw InvalidArgument(fmt::format("{} profiles {}, not {}; pass another -o or --no-resume", out, profile.model,
                                        file));
    fmt::print(stderr, "profile: resuming {} ({} entries measured)\n", out, profile.entries.size());
    profile.entries.erase(std::remove_if(profile.entries.begin(), profile.entries.end(),
                                         [](const runtime::ProfileEntry& e) { return e.predicted; }),
                          profile.entries.end());
  }
  profile.model = file;
  profile.device = fmt::format("this machine ({} usable CPUs), {}", hw::detectCpuTopology().online.size(),
                               sensor ? "power from " + sensor->info().name : "no readable power sensor");
  profile.simulated = false;

  if (!predict) {
    po.states = all_states;
    measureProfileWithProgress(model, governor.get(), sensor.get(), frames, po, profile, !json);
  } else {
    // Full sweep on the largest state, every other operating point on the others.
    po.states = {all_states.back()};
    measureProfileWithProgress(model, governor.get(), sensor.get(), frames, po, profile, !json);
    const auto& ops = model.operatingPoints();
    for (std::size_t s = 0; s + 1 < all_states.size(); ++s) {
      ProfilingOptions sub = po;
      sub.states = {all_states[s]};
      sub.ops.clear();
      for (std::size_t i = 0; i < ops.size(); i += 2) sub.ops.push_back(ops[i].name);
      if (ops.size() > 1 && (ops.size() - 1) % 2 != 0) sub.ops.push_back(ops.back().name);
      measureProfileWithProgress(model, governor.get(), sensor.get(), frames, sub, profile, !json);
    }
    // Held-out error: fit on 2/3 of the measured entries, test on the rest.
    std::vector<runtime::ProfileEntry> train, held;
    for (std::size_t i = 0; i < profile.entries.size(); ++i) (i % 3 == 2 ? held : train).push_back(profile.entries[i]);
    try {
      const auto q = runtime::LatencyPredictor::evaluate(train, held, "");
      fmt::print(json ? stderr : stdout, "predictor (latency from MACs per thread count, least squares): held-out mean |error| {:.1f}%, max "
                 "{:.1f}% on {} entries\n", q.mean_abs_pct_error, q.max_abs_pct_error, q.held_out);
    } catch (const InvalidArgument& e) {
      fmt::print(json ? stderr : stdout, "predictor: too few measurements for a held-out check ({})\n", e.what());
    }
    runtime::LatencyPredictor::fit(profile.entries, "").fillMissing(profile);
  }
  governor->restore();
  profile.save(out);
  if (json) {
    fmt::print("{}\n", profile.toJson());
    return 0;
  }
  fmt::print("{} entries ({} operating points x {} hardware states) -> {}\n", profile.entries.size(),
             profile.operatingPoints().size(), profile.hardwareStates().size(), out);
  for (const auto& e : profile.entries)
    fmt::print("  {:<16} threads={} {:>8.3f} ms +- {:.3f}{}{}\n", e.op, hw::threadsOf(e.hw),
               e.latency_ms, e.latency_std_ms, e.power_w > 0 ? fmt::format(" {:.2f} W", e.power_w) : "",
               e.predicted ? " (predicted)" : "");
  return 0;
}

}  // namespace dyndnn::cli
