// `dyndnn hw`: what the hardware layer can tune and measure on this machine, and the supervisor's way back
// after a crash (`--restore STATEFILE`).

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/report.hpp"

namespace dyndnn::cli {
namespace {

std::string levelText(const hw::Knob& k, std::int64_t v) {
  if (k.unit == "cpumask") return fmt::format("0x{:x}", v);
  return std::to_string(v);
}

std::string levelsText(const hw::Knob& k) {
  if (!k.level_names.empty()) {
    std::string s;
    for (std::size_t i = 0; i < k.levels.size(); ++i)
      s += fmt::format("{}{}={}", i ? " " : "", k.level_names[i], levelText(k, k.levels[i]));
    return s;
  }
  if (k.levels.size() > 6)
    return fmt::format("{}..{} ({} levels)", k.levels.front(), k.levels.back(), k.levels.size());
  std::string s;
  for (auto v : k.levels) s += (s.empty() ? "" : " ") + std::to_string(v);
  return s;
}

nlohmann::json toJson(const hw::HardwareReport& r) {
  nlohmann::json backends = nlohmann::json::array();
  for (const auto& b : r.backends) {
    nlohmann::json knobs = nlohmann::json::array();
    for (const auto& k : b.knobs) {
      auto cur = b.current.find(k.name);
      knobs.push_back({{"name", k.name},
                       {"unit", k.unit},
                       {"levels", k.levels},
                       {"level_names", k.level_names},
                       {"writable", k.writable},
                       {"current", cur == b.current.end() ? nlohmann::json() : nlohmann::json(cur->second)},
                       {"note", k.note}});
    }
    backends.push_back({{"name", b.name}, {"available", b.available}, {"reason", b.reason}, {"knobs", knobs}});
  }
  nlohmann::json sensors = nlohmann::json::array();
  for (const auto& s : r.sensors)
    sensors.push_back({{"name", s.name},
                       {"kind", s.kind},
                       {"source", s.source},
                       {"readable", s.readable},
                       {"value", s.value ? nlohmann::json(*s.value) : nlohmann::json()},
                       {"unit", s.unit},
                       {"note", s.note}});
  return {{"root", r.root},
          {"cpus",
           {{"online", r.topology.online},
            {"big", r.topology.big},
            {"little", r.topology.little},
            {"method", r.topology.method}}},
          {"backends", backends},
          {"sensors", sensors}};
}

void printText(const hw::HardwareReport& r) {
  fmt::print("Hardware under {} (detection only reads; nothing was changed)\n", r.root);
  fmt::print("CPUs: online {}; ", hw::formatCpuList(r.topology.online));
  if (r.topology.little.empty())
    fmt::print("all cores alike ({})\n", r.topology.method);
  else
    fmt::print("big {}, LITTLE {} (by {})\n", hw::formatCpuList(r.topology.big), hw::formatCpuList(r.topology.little),
               r.topology.method);
  for (const auto& b : r.backends)
    if (b.name == "cpufreq" && !b.available)
      fmt::print("No CPU frequency scaling here: {}\n", b.reason);
  fmt::print("\nKnobs:\n");
  for (const auto& b : r.backends) {
    if (!b.available) {
      fmt::print("  {:<9} unavailable: {}\n", b.name, b.reason);
      continue;
    }
    fmt::print("  {:<9} available{}\n", b.name, b.reason.empty() ? "" : " (" + b.reason + ")");
    for (const auto& k : b.knobs) {
      auto cur = b.current.find(k.name);
      fmt::print("    {:<16} {:<8} {:<10} now {:<12} levels {}\n", k.name, k.unit,
                 k.writable ? "writable" : "read-only", cur == b.current.end() ? "?" : levelText(k, cur->second),
                 levelsText(k));
      fmt::print("    {:<16} {}\n", "", k.note);
    }
  }
  fmt::print("\nSensors:\n");
  bool power = false;
  for (const auto& s : r.sensors) {
    if (s.kind == "power" || s.kind == "energy") power = power || s.readable;
    fmt::print("  {:<20} {:<11} {:<10} {:<12} {}\n", s.name, s.kind, s.readable ? "readable" : "unavailable",
               s.value ? fmt::format("{:.3f} {}", *s.value, s.unit) : "", s.note.empty() ? s.source : s.note);
  }
  if (!power) fmt::print("No power sensor is readable here: energy can only come from the simulated platform.\n");
}

// What the device's daemon drives and granted, or why there is none; a refused query says so.
struct DaemonReport {
  std::string socket;
  std::optional<daemon::DaemonStatus> status;
  std::string error;
};

DaemonReport queryDaemonAt(const std::string& socket) {
  DaemonReport r{socket, std::nullopt, ""};
  try {
    r.status = daemon::queryDaemon(socket);
  } catch (const Error& e) {
    r.error = e.what();
  }
  return r;
}

std::string stateText(const hw::HardwareState& s) {
  std::string out;
  for (const auto& [k, v] : s) out += fmt::format("{}{}={}", out.empty() ? "" : " ", k, v);
  return out.empty() ? "-" : out;
}

nlohmann::json toJson(const DaemonReport& d) {
  nlohmann::json j = {{"socket", d.socket}, {"present", d.status.has_value() || !d.error.empty()}};
  if (!d.error.empty()) j["error"] = d.error;
  if (!d.status) return j;
  j["governor"] = d.status->governor;
  j["applied"] = d.status->applied;
  nlohmann::json clients = nlohmann::json::array();
  for (const auto& c : d.status->clients)
    clients.push_back({{"id", c.id}, {"name", c.name}, {"priority", c.priority}, {"uid", c.uid}, {"pid", c.pid},
                       {"placed", c.grant.placed}, {"placement", c.grant.placement}, {"applied", c.grant.applied}});
  j["clients"] = clients;
  return j;
}

void printText(const DaemonReport& d) {
  if (!d.status && d.error.empty()) {
    fmt::print("\nDaemon: no dyndnnd listens on {} (applications then drive the knobs themselves, as root)\n", d.socket);
    return;
  }
  if (!d.status) {
    fmt::print("\nDaemon: dyndnnd on {} refused the query: {}\n", d.socket, d.error);
    return;
  }
  fmt::print("\nDaemon: dyndnnd on {} drives {}; set: {}\n", d.socket, d.status->governor, stateText(d.status->applied));
  if (d.status->clients.empty()) fmt::print("  no clients\n");
  for (const auto& c : d.status->clients)
    fmt::print("  {:<16} pid {:<7} uid {:<6} priority {:<4} {} {}\n", c.name, c.pid, c.uid, c.priority,
               c.grant.placed ? "granted" : "waiting (placements taken)", stateText(c.grant.placement));
}

}  // namespace

int runHw(const std::vector<std::string>& argv) {
  Command cmd("hw", "[--json] [--root DIR] [--daemon SOCKET] [--restore STATEFILE]",
              "Detect the hardware knobs (CPU DVFS, GPU DVFS, core affinity and threads, NVML) and sensors (power, "
              "energy, CPU load of other processes, temperature) of this machine, their levels and current values, "
              "and whether this process may change them. Detection only reads; nothing is changed.");
  std::string root = "/", file, socket = daemon::kDefaultSocket;
  bool json = false;
  cmd.addJson(json);
  cmd->add_option("--root", root, "inspect a copy of /sys and /proc under DIR instead of the real ones")
      ->type_name("DIR");
  cmd->add_option("--daemon", socket, "where to look for dyndnnd, the hardware daemon (its clients and grants)")
      ->type_name("SOCKET")
      ->capture_default_str();
  auto* restore = cmd->add_option("--restore", file,
                                  "write back the original knob values recorded in STATEFILE by a governor that was "
                                  "killed (SIGKILL cannot be caught), then remove the file; a missing file means "
                                  "there is nothing to restore (exit status 0)")
                      ->type_name("STATEFILE");
  if (!cmd.parse(argv)) return 0;
  if (restore->count() > 0) {
    // No file means the governor restored everything itself (or never changed anything): a supervisor's
    // success, not an error.
    if (::access(file.c_str(), F_OK) != 0 && errno == ENOENT) {
      if (json)
        fmt::print("{}\n", nlohmann::json({{"restored", 0}, {"state_file", file}}).dump());
      else
        fmt::print("nothing to restore: {} does not exist\n", file);
      return 0;
    }
    const int n = hw::restoreFromStateFile(file);
    if (json)
      fmt::print("{}\n", nlohmann::json({{"restored", n}, {"state_file", file}}).dump());
    else
      fmt::print("restored {} knob file(s) from {}; removed it\n", n, file);
    return 0;
  }
  const auto report = hw::detectHardware(root);
  const DaemonReport daemon = queryDaemonAt(socket);
  if (json) {
    nlohmann::json j = toJson(report);
    j["daemon"] = toJson(daemon);
    fmt::print("{}\n", j.dump(2));
  } else {
    printText(report);
    printText(daemon);
  }
  return 0;
}

}  // namespace dyndnn::cli
