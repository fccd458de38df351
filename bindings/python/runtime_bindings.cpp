// Python bindings of the runtime manager and the hardware layer: DynamicModel.set_target / set_runtime /
// runtime_stats / write_trace, Profile, measure_profile, governors and hardware detection (module dyndnn.hw).

#include "runtime_bindings.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/sim/platform.hpp"

#include <pybind11/stl.h>

#include <cmath>
#include <limits>

namespace py = pybind11;

namespace dyndnn::python {
namespace {

using runtime::HardwareState;

py::dict entryToPython(const runtime::ProfileEntry& e) {
  py::dict d;
  d["op"] = e.op;
  d["hw"] = e.hw;
  d["macs"] = e.macs;
  d["accuracy"] = e.accuracy;
  d["latency_ms"] = e.latency_ms;
  d["latency_std_ms"] = e.latency_std_ms;
  d["power_w"] = e.power_w;
  d["idle_power_w"] = e.idle_power_w;
  d["predicted"] = e.predicted;
  return d;
}

py::dict statsToPython(const runtime::ManagerStats& s) {
  py::dict d;
  d["frames"] = s.frames;
  d["switches"] = s.switches;
  d["budget_misses"] = s.budget_misses;
  d["jumps_detected"] = s.jumps_detected;
  d["suspended"] = s.suspended;
  d["policy"] = s.policy;
  d["current_op"] = s.current_op;
  d["current_hw"] = s.current_hw;
  d["unmet"] = runtime::unmetToString(s.unmet);
  d["slowdown"] = s.slowdown;
  d["slowdown_std"] = s.slowdown_std;
  d["switch_penalty"] = s.switch_penalty;
  d["probes"] = s.probes;
  d["energy_j"] = s.energy_j;
  d["last_reason"] = s.last_reason;
  return d;
}

py::dict frameToPython(const runtime::FrameRecord& f) {
  py::dict d;
  d["frame"] = f.frame;
  d["op"] = f.op;
  d["hw"] = f.hw;
  d["latency_ms"] = f.latency_ms;
  d["energy_j"] = f.energy_j < 0 ? py::none() : py::cast(f.energy_j);
  d["predicted_ms"] = f.predicted_ms;
  d["predicted_quantile_ms"] = f.predicted_quantile_ms;
  d["slowdown"] = f.slowdown;
  d["slowdown_var"] = f.slowdown_var;
  d["bias"] = f.bias;
  d["switched"] = f.switched;
  d["met_budget"] = f.met_budget;
  d["unmet"] = runtime::unmetToString(f.unmet);
  d["reason"] = f.reason;
  return d;
}

py::dict knobToPython(const hw::Knob& k) {
  py::dict d;
  d["name"] = k.name;
  d["unit"] = k.unit;
  d["levels"] = k.levels;
  d["level_names"] = k.level_names;
  d["writable"] = k.writable;
  d["note"] = k.note;
  return d;
}

// None stays unset; anything else must be a real number (NaN and friends are rejected by Target::validate).
std::optional<double> optionalNumber(const py::object& v, const char* name) {
  if (v.is_none()) return std::nullopt;
  try {
    return v.cast<double>();
  } catch (const py::cast_error&) {
    throw InvalidArgument(std::string("set_target: ") + name + " must be a number or None, not " +
                          py::str(py::type::of(v)).cast<std::string>());
  }
}

runtime::Objective objectiveFromString(const std::string& s) {
  if (s == "most_accuracy") return runtime::Objective::MostAccuracy;
  if (s == "least_energy") return runtime::Objective::LeastEnergy;
  throw InvalidArgument("set_target: objective must be 'most_accuracy' or 'least_energy', not '" + s + "'");
}

std::vector<HardwareState> threadStatesFrom(const py::object& threads) {
  if (threads.is_none()) return {};
  std::vector<HardwareState> out;
  for (int t : threads.cast<std::vector<int>>()) out.push_back({{hw::knobs::kThreads, t}});
  return out;
}

std::shared_ptr<hw::Governor> share(std::unique_ptr<hw::Governor> g) { return std::shared_ptr<hw::Governor>(std::move(g)); }

}  // namespace

void bindRuntime(py::module_& mod, py::class_<DynamicModel>& model) {
  auto hwmod = mod.def_submodule("hw", "Hardware knobs (DVFS, cores, threads), governors and detection.");

  py::class_<hw::Governor, std::shared_ptr<hw::Governor>>(hwmod, "Governor", R"(A set of hardware knobs.

apply() is all-or-nothing; restore() puts back what was found (also run when the governor is garbage-collected).)")
      .def_property_readonly("name", &hw::Governor::name)
      .def_property_readonly("knobs",
                             [](const hw::Governor& g) {
                               py::list out;
                               for (const auto& k : g.knobs()) out.append(knobToPython(k));
                               return out;
                             })
      .def("apply", [](hw::Governor& g, const HardwareState& s) {
             py::gil_scoped_release release;
             g.apply(s);
           }, py::arg("state"), "Set knobs {name: level}; unknown knob: ValueError, refused level: OSError.")
      .def("current", &hw::Governor::current)
      .def("applied", &hw::Governor::applied)
      .def("restore", &hw::Governor::restore)
      .def_property_readonly("simulated", &hw::Governor::simulated);

  hwmod.def("make_governor", [](const std::string& root, const std::string& state_file) {
        hw::GovernorOptions o;
        o.root = root;
        o.state_file = state_file;
        return share(hw::makeGovernor(o));
      }, py::arg("root") = "/", py::arg("state_file") = "",
      "Every real backend under root (cpufreq, devfreq, affinity/threads) as one governor.");
  hwmod.def("make_affinity_governor", [](const std::string& root) {
        hw::GovernorOptions o;
        o.root = root;
        return share(hw::makeAffinityGovernor(o));
      }, py::arg("root") = "/", "Knobs 'affinity' (CPU mask) and 'threads' for the calling thread's workers.");
  hwmod.def("make_simulated_governor", [](const std::string& platform) {
        hw::PlatformProfile p;
        if (platform == "xavier_nx") p = hw::xavierNxProfile();
        else if (platform == "odroid_xu3") p = hw::odroidXu3Profile();
        else throw InvalidArgument("make_simulated_governor: platform must be 'xavier_nx' or 'odroid_xu3'");
        return share(hw::makeSimulatedGovernor(std::make_shared<hw::SimulatedPlatform>(p)));
      }, py::arg("platform") = "xavier_nx", "A governor of a simulated board (nothing real changes).");
  hwmod.def("restore_from_state_file", &hw::restoreFromStateFile, py::arg("state_file"),
            "Write back the originals a governor recorded (after the process that changed them was killed).");
  hwmod.def("detect", [](const std::string& root) {
        const auto r = hw::detectHardware(root);
        py::dict d;
        py::list backends;
        for (const auto& b : r.backends) {
          py::dict bd;
          bd["name"] = b.name;
          bd["available"] = b.available;
          bd["reason"] = b.reason;
          py::list knobs;
          for (const auto& k : b.knobs) knobs.append(knobToPython(k));
          bd["knobs"] = knobs;
          bd["current"] = b.current;
          backends.append(bd);
        }
        d["root"] = r.root;
        d["online_cpus"] = r.topology.online;
        d["big_cpus"] = r.topology.big;
        d["little_cpus"] = r.topology.little;
        d["backends"] = backends;
        return d;
      }, py::arg("root") = "/", "What this device offers (reads only, changes nothing).");

  py::class_<runtime::Profile>(mod, "Profile", R"(Latency and power per operating point x hardware state.

Made by `dyndnn profile FILE -o P.json`, by measure_profile(), or by hand (entries).)")
      .def(py::init<>())
      .def_static("load", &runtime::Profile::load, py::arg("path"))
      .def("save", &runtime::Profile::save, py::arg("path"))
      .def("to_json", &runtime::Profile::toJson)
      .def_readwrite("device", &runtime::Profile::device)
      .def_readwrite("model", &runtime::Profile::model)
      .def_property_readonly("entries",
                             [](const runtime::Profile& p) {
                               py::list out;
                               for (const auto& e : p.entries) out.append(entryToPython(e));
                               return out;
                             })
      .def("add", [](runtime::Profile& p, const std::string& op, const HardwareState& hw, double latency_ms,
                     double latency_std_ms, double accuracy, double macs, double power_w) {
             runtime::ProfileEntry e;
             e.op = op;
             e.hw = hw;
             e.latency_ms = latency_ms;
             e.latency_std_ms = latency_std_ms;
             e.accuracy = accuracy;
             e.macs = macs;
             e.power_w = power_w;
             p.entries.push_back(e);
           }, py::arg("op"), py::arg("hw"), py::arg("latency_ms"), py::arg("latency_std_ms") = 0.0,
           py::arg("accuracy") = 0.0, py::arg("macs") = 0.0, py::arg("power_w") = 0.0, "Append one entry.")
      .def("__len__", [](const runtime::Profile& p) { return p.entries.size(); });

  mod.def("measure_profile", [](DynamicModel& m, const py::object& threads, int warmup, int runs,
                                std::shared_ptr<hw::Governor> governor, const py::object& states) {
        ProfilingOptions o;
        if (!threads.is_none() && !states.is_none())
          throw InvalidArgument("measure_profile: give threads or states, not both");
        o.states = states.is_none() ? threadStatesFrom(threads) : states.cast<std::vector<HardwareState>>();
        o.warmup = warmup;
        o.runs = runs;
        runtime::Profile p;
        py::gil_scoped_release release;
        measureProfile(m, governor.get(), nullptr, o, p);
        p.model = m.info().path;
        p.device = "this device (measure_profile)";
        return p;
      }, py::arg("model"), py::arg("threads") = py::none(), py::arg("warmup") = 5, py::arg("runs") = 30,
      py::arg("governor") = nullptr, py::arg("states") = py::none(),
      "Measure latency of every operating point on each thread count in `threads` (default: the model's), or on "
      "each hardware state in `states` (dicts knob -> level, e.g. {'affinity': 1 << cpu, 'threads': 1}; knobs other "
      "than threads need a governor that has them).");

  py::class_<runtime::Arbiter, std::shared_ptr<runtime::Arbiter>>(mod, "Arbiter",
      "What models that share the device join: a HardwareArbiter (this process) or a RemoteArbiter (dyndnnd).");
  py::class_<runtime::HardwareArbiter, runtime::Arbiter, std::shared_ptr<runtime::HardwareArbiter>>(mod, "HardwareArbiter",
                                                                                 R"(One per process: models that share
the device join it (DynamicModel.set_runtime(arbiter=..., name=..., priority=..., placements=[...],
exclusive_knob=...)). Higher priority chooses its placement first, no two models take the same exclusive resource,
shared knobs (applied through `governor`, if given) go to the highest level a running model needs; each model
then picks its operating point within what it was granted.)")
      .def(py::init<std::shared_ptr<hw::Governor>>(), py::arg("governor") = nullptr)
      .def("rearbitrate", &runtime::HardwareArbiter::rearbitrate, py::call_guard<py::gil_scoped_release>(),
           "Recompute every model's placement (joining, leaving and set_target() do this already).")
      .def("granted", py::overload_cast<const std::string&>(&runtime::HardwareArbiter::granted, py::const_),
           py::arg("name"), "The placement granted to the model that joined as `name`.")
      .def("__len__", [](const runtime::HardwareArbiter& a) { return a.ids().size(); });
  py::class_<daemon::RemoteArbiter, runtime::Arbiter, std::shared_ptr<daemon::RemoteArbiter>>(mod, "RemoteArbiter",
                                                                                            R"(The device's dyndnnd:
models in several processes join it as they join a HardwareArbiter (set_runtime(arbiter=connect_arbiter(), ...)).
The daemon sets the shared knobs (no root needed here); grants are pushed and read at the next infer().)")
      .def_property_readonly("socket", &daemon::RemoteArbiter::socket);
  mod.def("connect_arbiter", &daemon::connectArbiter, py::arg("socket") = daemon::kDefaultSocket,
          "A RemoteArbiter for the dyndnnd listening on `socket`; OSError (dyndnn.HardwareError) when none does.");

  model
      .def("set_target",
           [](DynamicModel& m, const py::object& latency_ms, const py::object& fps, const py::object& min_accuracy,
              const py::object& power_w, const std::string& objective, double confidence) {
             runtime::Target t;
             t.latency_ms = optionalNumber(latency_ms, "latency_ms");
             t.fps = optionalNumber(fps, "fps");
             t.min_accuracy = optionalNumber(min_accuracy, "min_accuracy");
             t.power_w = optionalNumber(power_w, "power_w");
             t.objective = objectiveFromString(objective);
             t.confidence = confidence;
             py::gil_scoped_release release;  // the first call may measure a profile
             m.setTarget(t);
           },
           py::kw_only(), py::arg("latency_ms") = py::none(), py::arg("fps") = py::none(),
           py::arg("min_accuracy") = py::none(), py::arg("power_w") = py::none(),
           py::arg("objective") = "most_accuracy", py::arg("confidence") = 0.95,
           R"(Hand control to the runtime manager: every later infer() picks the operating point (and hardware
state) that meets these goals. Any subset; latency_ms or fps, not both. Invalid values raise ValueError; an
infeasible combination does not (runtime_stats()['unmet'] says which constraint is missed). Without
set_runtime(), the first call measures a profile here (about 13 inferences per operating point and thread count).
set_subnet()/request_subnet() suspend the manager until the next set_target().)")
      .def("set_runtime",
           [](DynamicModel& m, const py::object& profile, std::shared_ptr<hw::Governor> governor,
              const py::object& threads, int warmup, int runs, std::shared_ptr<runtime::Arbiter> arbiter,
              const std::string& name, int priority, const std::vector<HardwareState>& placements,
              const std::string& exclusive_knob) {
             RuntimeOptions o;
             if (!arbiter && (!name.empty() || !placements.empty() || !exclusive_knob.empty()))
               throw InvalidArgument("set_runtime: name, placements and exclusive_knob belong to an arbiter; pass "
                                     "arbiter=dyndnn.HardwareArbiter() (or dyndnn.connect_arbiter()) too");
             o.arbiter = std::move(arbiter);
             o.registration = {name, priority, nullptr, placements, exclusive_knob};
             if (py::isinstance<py::str>(profile)) o.profile = runtime::Profile::load(profile.cast<std::string>());
             else if (!profile.is_none()) o.profile = profile.cast<runtime::Profile>();
             o.governor = std::move(governor);
             o.profile_states = threadStatesFrom(threads);
             o.profile_warmup = warmup;
             o.profile_runs = runs;
             py::gil_scoped_release release;
             m.setRuntime(std::move(o));
           },
           py::kw_only(), py::arg("profile") = py::none(), py::arg("governor") = nullptr,
           py::arg("threads") = py::none(), py::arg("warmup") = 3, py::arg("runs") = 10,
           py::arg("arbiter") = nullptr, py::arg("name") = "", py::arg("priority") = 0,
           py::arg("placements") = std::vector<HardwareState>{}, py::arg("exclusive_knob") = "",
           "Install the manager's profile (a Profile or a path to profile JSON; None: measure here over "
           "`threads`, default 1..min(CPUs, 4)) and an optional hw.Governor for DVFS/cores. With `arbiter`, the "
           "model joins it as `name` with `priority` and its alternative `placements` (e.g. [{'affinity': 1}, "
           "{'affinity': 2}] with exclusive_knob='affinity'); it leaves on the next set_runtime() or when deleted.")
      .def_property_readonly("managed", &DynamicModel::managed, "True while a target is in force.")
      .def("runtime_stats",
           [](const DynamicModel& m) {
             if (!m.runtimeManager())
               throw InvalidArgument("runtime_stats(): no runtime manager yet; call set_target() first");
             return statsToPython(m.runtimeStats());
           },
           "The manager's counters, current choice, slowdown estimate, unmet constraints and last reason.")
      .def("runtime_trace",
           [](const DynamicModel& m) {
             auto mgr = m.runtimeManager();
             if (!mgr) throw InvalidArgument("runtime_trace(): no runtime manager yet; call set_target() first");
             py::list out;
             for (const auto& f : mgr->trace()) out.append(frameToPython(f));
             return out;
           },
           "One dict per managed frame: op, hw, latency_ms, predicted_ms, slowdown, switched, reason, ...")
      .def("write_trace",
           [](const DynamicModel& m, const std::string& path) {
             auto mgr = m.runtimeManager();
             if (!mgr) throw InvalidArgument("write_trace(): no runtime manager yet; call set_target() first");
             mgr->writeTrace(path);
           },
           py::arg("path"), "Write the run's trace as JSON (plot it with tools/plot_trace.py).")
      .def_property_readonly("profile", [](const DynamicModel& m) -> py::object {
        auto mgr = m.runtimeManager();
        return mgr ? py::cast(mgr->profile()) : py::none();
      }, "The manager's profile (None before set_runtime()/set_target()).");
}

}  // namespace dyndnn::python
