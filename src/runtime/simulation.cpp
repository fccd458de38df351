// Frame-by-frame simulation of policies on the simulated platforms, 1 ms ticks, Linux governors emulated.

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/sim/simulation.hpp"

namespace dyndnn::runtime::sim {

std::string freqKnob(const std::string& domain) { return "simulated." + domain + ".freq"; }

namespace {

double speedup(const SimOp& op, int threads) {
  const double p = std::clamp(op.parallel_fraction, 0.0, 1.0);
  return 1.0 / ((1 - p) + p / std::max(1, threads));
}

hw::SimulatedWork workOf(const SimOp& op, const std::string& domain, int threads, double speed) {
  if (!(speed > 0)) throw InvalidArgument(fmt::format("simulation: speed of domain {} must be > 0", domain));
  hw::SimulatedWork w;
  w.domain = domain;
  w.threads = threads;
  w.seconds_at_max = op.ms_at_max_1thread / speed / speedup(op, threads) / 1000.0;
  w.memory_bound_fraction = op.memory_bound_fraction;
  return w;
}

int domainIndex(const hw::PlatformProfile& p, const std::string& name) {
  for (std::size_t i = 0; i < p.domains.size(); ++i)
    if (p.domains[i].name == name) return static_cast<int>(i);
  throw InvalidArgument(fmt::format("simulation: platform {} has no domain '{}'", p.name, name));
}

const SimOp& opNamed(const std::vector<SimOp>& ops, const std::string& name) {
  for (const auto& o : ops)
    if (o.name == name) return o;
  throw InvalidArgument(fmt::format("simulation: the workload has no operating point '{}'", name));
}

}  // namespace

Profile simulatedProfile(const hw::PlatformProfile& platform, const std::vector<SimOp>& ops,
                         const std::vector<Placement>& placements, double spread) {
  if (ops.empty() || placements.empty()) throw InvalidArgument("simulatedProfile: needs operating points and placements");
  Profile prof;
  prof.device = "SIMULATED " + platform.name;
  prof.simulated = true;
  hw::SimulatedPlatform sp(platform);
  for (const auto& pl : placements) {
    const int di = domainIndex(platform, pl.domain);
    const auto& d = platform.domains[static_cast<std::size_t>(di)];
    for (int n : pl.threads) {
      const int cores = d.cpus.empty() ? 1 : static_cast<int>(d.cpus.size());
      if (n < 1 || n > cores)
        throw InvalidArgument(fmt::format("simulatedProfile: {} threads on {} which has {} cores", n, d.name, cores));
      for (const auto& opp : d.opps) {
        sp.setFrequency(d.name, opp.freq);
        for (const auto& op : ops) {
          if (!(op.ms_at_max_1thread > 0)) throw InvalidArgument(fmt::format("simulatedProfile: op {} has no latency", op.name));
          const auto w = workOf(op, d.name, n, pl.speed);
          ProfileEntry e;
          e.op = op.name;
          e.hw = {{freqKnob(d.name), opp.freq}, {hw::knobs::kThreads, n}, {hw::knobs::kCluster, di}};
          e.macs = op.macs;
          e.accuracy = op.accuracy;
          e.latency_ms = sp.latencySeconds(w) * 1000;
          e.latency_std_ms = spread * e.latency_ms;
          e.power_w = sp.powerWatts(&w);
          e.idle_power_w = sp.powerWatts(nullptr);
          prof.entries.push_back(std::move(e));
        }
      }
    }
  }
  return prof;
}

std::vector<RunResult> simulate(hw::SimulatedPlatform& platform, std::vector<Workload>& workloads,
                                const SimulationOptions& options, HardwareArbiter* arbiter) {
  const auto& pp = platform.profile();
  const std::size_t nw = workloads.size();
  if (nw == 0) throw InvalidArgument("simulate: no workloads");
  struct State {
    bool active = false;
    double start = 0, next_arrival = 0, progress = 0, energy = 0, freq_time = 0;
    std::uint64_t frame = 0;
    const ProfileEntry* entry = nullptr;
    std::string domain;
    int threads = 1;
    double budget = 0;
    double rate = 0;  // progress per ms in the last tick
    double noise = 1;  // this frame's work factor
    RunResult result;
  };
  std::vector<State> st(nw);
  for (std::size_t i = 0; i < nw; ++i) {
    if (!workloads[i].manager) throw InvalidArgument("simulate: workload without a manager");
    st[i].result.workload = workloads[i].name;
    st[i].result.policy = workloads[i].driver == FrequencyDriver::Kernel ? toString(workloads[i].kernel_governor) + " (kernel, emulated)"
                                                                         : workloads[i].manager->stats().policy;
    st[i].budget = workloads[i].manager->target().budgetMs().value_or(workloads[i].period_ms);
  }
  // Kernel governor state per domain.
  std::vector<double> pelt(pp.domains.size(), 0.0), od_busy(pp.domains.size(), 0.0), since_update(pp.domains.size(), 0.0);
  std::vector<std::int64_t> levels_max(pp.domains.size());
  for (std::size_t d = 0; d < pp.domains.size(); ++d) levels_max[d] = pp.domains[d].opps.back().freq;
  std::vector<std::vector<std::int64_t>> levels(pp.domains.size());
  for (std::size_t d = 0; d < pp.domains.size(); ++d)
    for (const auto& o : pp.domains[d].opps) levels[d].push_back(o.freq);

  const double dt = options.tick_ms;
  double now = 0;
  auto all_done = [&] {
    for (const auto& s : st)
      if (s.frame < options.frames) return false;
    return true;
  };
  std::size_t event_index = 0;
  auto events = options.events;
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at_frame < b.at_frame; });
  double idle_energy_total = 0;
  int competitor = 0;
  // What a model's CPU-load watcher reports on a device (RuntimeManager::observeCpuLoad): the background load on
  // every CPU, the competitor busy on the last `competitor` CPUs of each CPU domain. Reported at the start and at
  // each event that changes either (a watcher's 100 ms readings between events would repeat the same values).
  auto reportCpuLoad = [&] {
    std::vector<double> load;
    for (const auto& d : pp.domains)
      for (std::size_t c = 0; c < d.cpus.size(); ++c) {
        const auto cpu = static_cast<std::size_t>(d.cpus[c]);
        if (load.size() <= cpu) load.resize(cpu + 1, 0.0);
        load[cpu] = c + static_cast<std::size_t>(competitor) >= d.cpus.size() ? 1.0 : platform.backgroundLoad();
      }
    if (!load.empty())
      for (auto& w : workloads) w.manager->observeCpuLoad(load);
  };
  reportCpuLoad();
  std::mt19937 rng(options.seed);
  std::normal_distribution<double> gauss(0.0, 1.0);

  while (!all_done()) {
    // Start frames that arrived.
    for (std::size_t i = 0; i < nw; ++i) {
      auto& s = st[i];
      auto& w = workloads[i];
      if (s.active || s.frame >= options.frames || now + 1e-9 < s.next_arrival) continue;
      // Events are keyed on the first workload's frame count.
      while (i == 0 && event_index < events.size() && events[event_index].at_frame <= s.frame) {
        const auto& ev = events[event_index++];
        if (ev.background_load) platform.setBackgroundLoad(*ev.background_load);
        if (ev.competitor_cores) competitor = std::max(0, *ev.competitor_cores);
        if (ev.background_load || ev.competitor_cores) reportCpuLoad();
        if (ev.budget_ms)
          for (auto& ww : workloads) {
            Target t = ww.manager->target();
            t.latency_ms = *ev.budget_ms;
            t.fps.reset();
            ww.manager->setTarget(t);
          }
      }
      s.budget = w.manager->target().budgetMs().value_or(w.period_ms);
      Decision d;
      if (arbiter) {
        d = arbiter->decide(w.name);
      } else {
        d = w.manager->before();
      }
      s.entry = &w.manager->profile().entries[static_cast<std::size_t>(d.entry)];
      const int di = static_cast<int>(s.entry->hw.at(hw::knobs::kCluster));
      s.domain = pp.domains[static_cast<std::size_t>(di)].name;
      s.threads = static_cast<int>(s.entry->hw.at(hw::knobs::kThreads));
      if (w.driver == FrequencyDriver::Manager) platform.setFrequency(s.domain, s.entry->hw.at(freqKnob(s.domain)));
      s.noise = std::clamp(1.0 + options.noise * gauss(rng), 1.0 - 3 * options.noise, 1.0 + 3 * options.noise);
      s.active = true;
      s.start = now;
      s.progress = 0;
      s.energy = 0;
      s.freq_time = 0;
    }
    // One tick: progress, energy.
    const double idle_w = platform.powerWatts(nullptr);
    std::map<std::string, int> threads_on;
    for (const auto& s : st)
      if (s.active) threads_on[s.domain] += s.threads;
    std::vector<double> busy_w(nw, 0.0);
    for (std::size_t i = 0; i < nw; ++i) {
      auto& s = st[i];
      if (!s.active) continue;
      const auto& d = pp.domains[static_cast<std::size_t>(domainIndex(pp, s.domain))];
      const int cores = d.cpus.empty() ? 1 : static_cast<int>(d.cpus.size());
      double share = std::min(1.0, static_cast<double>(cores) / threads_on[s.domain]);
      if (competitor > 0 && !d.cpus.empty()) {
        const double free_cores = std::max(0.5, static_cast<double>(cores - competitor));
        share = std::min(share, free_cores / threads_on[s.domain]);
      }
      const auto sp = workloads[i].speed.find(s.domain);
      const auto work = workOf(opNamed(workloads[i].ops, s.entry->op), s.domain, s.threads,
                               sp == workloads[i].speed.end() ? 1.0 : sp->second);
      const double lat_ms = platform.latencySeconds(work) * 1000;
      s.rate = share / (lat_ms * s.noise);
      s.progress += dt * s.rate;
      busy_w[i] = (platform.powerWatts(&work) - idle_w) * share;
      s.freq_time += static_cast<double>(platform.frequency(s.domain)) * dt;
    }
    // Static/idle power is shared by the workloads in equal parts; busy power goes to whoever caused it.
    for (std::size_t i = 0; i < nw; ++i)
      if (st[i].active) st[i].energy += (busy_w[i] + idle_w / static_cast<double>(nw)) * dt / 1000;
    idle_energy_total += idle_w * dt / 1000;
    platform.idle(dt / 1000);  // advance the platform clock (energy here is tracked above)
    // Kernel governors: per domain, utilisation of its busiest CPU.
    for (std::size_t di = 0; di < pp.domains.size(); ++di) {
      bool kernel_driven = false, busy = false;
      for (std::size_t i = 0; i < nw; ++i) {
        if (workloads[i].driver != FrequencyDriver::Kernel) continue;
        const auto& dn = pp.domains[di].name;
        const bool on_domain = (st[i].entry && st[i].domain == dn) ||
                               (!st[i].entry && workloads[i].manager->profile().entries.front().hw.at(hw::knobs::kCluster) == static_cast<std::int64_t>(di));
        if (!on_domain) continue;
        kernel_driven = true;
        busy |= st[i].active;
      }
      if (!kernel_driven) continue;
      const double f = static_cast<double>(platform.frequency(pp.domains[di].name));
      const double share = std::max(busy ? 1.0 : 0.0, platform.backgroundLoad());
      pelt[di] = peltUpdate(pelt[di], share * f / static_cast<double>(levels_max[di]), dt);  // frequency invariant
      od_busy[di] += share * dt;
      since_update[di] += dt;
      double rate = 10;
      LinuxGovernorKind kind = LinuxGovernorKind::Schedutil;
      for (const auto& w : workloads)
        if (w.driver == FrequencyDriver::Kernel) { rate = w.rate_limit_ms; kind = w.kernel_governor; }
      if (since_update[di] + 1e-9 >= rate) {
        const double util = kind == LinuxGovernorKind::Ondemand ? od_busy[di] / since_update[di] : pelt[di];
        platform.setFrequency(pp.domains[di].name, linuxGovernorFrequency(kind, levels[di], util));
        od_busy[di] = 0;
        since_update[di] = 0;
      }
    }
    now += dt;
    // Finish frames.
    for (std::size_t i = 0; i < nw; ++i) {
      auto& s = st[i];
      auto& w = workloads[i];
      if (!s.active || s.progress < 1.0 - 1e-9) continue;
      // The frame finished inside this tick: interpolate the instant (the work left at the tick's start / rate).
      const double overshoot_ms = s.rate > 0 ? std::max(0.0, s.progress - 1.0) / s.rate : 0.0;
      const double finish = now - std::min(dt, overshoot_ms);
      const double lat = std::max(dt * 0.01, finish - s.start);
      FrameResult fr;
      fr.frame = s.frame;
      fr.start_ms = s.start;
      fr.latency_ms = lat;
      fr.energy_j = s.energy;
      fr.budget_ms = s.budget;
      fr.op = s.entry->op;
      fr.hw = s.entry->hw;
      fr.mean_freq = s.freq_time / lat;
      fr.accuracy = s.entry->accuracy;
      fr.met = lat <= s.budget + 1e-9;
      w.manager->after(lat, s.energy, std::min(1.0, lat / w.period_ms));
      if (arbiter) arbiter->done(w.name);
      s.result.frames.push_back(fr);
      s.active = false;
      s.next_arrival = std::max(s.next_arrival + w.period_ms, 0.0);
      ++s.frame;
    }
    // Idle workloads waiting for their next arrival accrue their share of idle energy into the next frame's
    // accounting through RunResult::energy_j below.
    for (std::size_t i = 0; i < nw; ++i)
      if (!st[i].active) st[i].result.energy_j += idle_w / static_cast<double>(nw) * dt / 1000;
  }
  std::vector<RunResult> out;
  for (std::size_t i = 0; i < nw; ++i) {
    auto& r = st[i].result;
    double lat = 0, acc = 0, hits = 0;
    std::string prev;
    for (const auto& f : r.frames) {
      r.energy_j += f.energy_j;
      lat += f.latency_ms;
      acc += f.accuracy;
      hits += f.met ? 1 : 0;
      const std::string key = f.op + nlohmann::json(f.hw).dump();
      if (!prev.empty() && key != prev) ++r.switches;
      prev = key;
    }
    const double n = static_cast<double>(std::max<std::size_t>(1, r.frames.size()));
    r.mean_latency_ms = lat / n;
    r.mean_accuracy = acc / n;
    r.hit_rate = hits / n;
    out.push_back(std::move(r));
  }
  (void)idle_energy_total;
  return out;
}

std::string toJson(const std::vector<RunResult>& results) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json frames = nlohmann::json::array();
    for (const auto& f : r.frames)
      frames.push_back({{"frame", f.frame}, {"start_ms", f.start_ms}, {"latency_ms", f.latency_ms},
                        {"energy_j", f.energy_j}, {"budget_ms", f.budget_ms}, {"op", f.op}, {"hw", f.hw},
                        {"mean_freq", f.mean_freq}, {"accuracy", f.accuracy}, {"met", f.met}});
    j.push_back({{"workload", r.workload}, {"policy", r.policy}, {"energy_j", r.energy_j},
                 {"mean_latency_ms", r.mean_latency_ms}, {"hit_rate", r.hit_rate}, {"mean_accuracy", r.mean_accuracy},
                 {"switches", r.switches}, {"frames", frames}});
  }
  return j.dump(1);
}

}  // namespace dyndnn::runtime::sim
