#include "frequency_domain.hpp"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"

namespace dyndnn::hw {

std::vector<std::int64_t> parseFrequencyStats(const std::string& text, bool trans_stat) {
  std::vector<std::int64_t> freqs;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string token;
    if (trans_stat) {
      // Rows look like "*  510000000:  3  0 ... 1234"; header and total lines have no number before ':'.
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      token = line.substr(0, colon);
      token.erase(std::remove_if(token.begin(), token.end(), [](char c) { return c == '*' || c == ' ' || c == '\t'; }),
                  token.end());
    } else {
      std::istringstream words(line);
      words >> token;
    }
    if (token.empty() || !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    freqs.push_back(std::stoll(token));
  }
  std::sort(freqs.begin(), freqs.end());
  freqs.erase(std::unique(freqs.begin(), freqs.end()), freqs.end());
  return freqs;
}

FrequencyDomain::FrequencyDomain(const Sysfs& fs, FrequencyFiles files, GovernorOptions::FrequencyMode mode)
    : fs_(fs), files_(std::move(files)) {
  using Mode = GovernorOptions::FrequencyMode;
  std::vector<std::string> governors;
  if (fs_.exists(file(files_.available_governors))) governors = fs_.readWords(file(files_.available_governors));
  const bool can_userspace = std::find(governors.begin(), governors.end(), "userspace") != governors.end() &&
                             (files_.setspeed_appears_with_governor || fs_.exists(file(files_.setspeed))) &&
                             fs_.exists(file(files_.governor));
  if (mode == Mode::Userspace && !can_userspace)
    throw HardwareError(fmt::format("{}: the userspace governor is not offered (available: {}); use the clamp "
                                    "frequency mode",
                                    fs_.path(files_.dir), fmt::join(governors, " ")));
  userspace_ = mode != Mode::Clamp && can_userspace;
  if (userspace_) was_userspace_ = fs_.readTrimmed(file(files_.governor)) == "userspace";
  if (!userspace_ && (!fs_.exists(file(files_.min)) || !fs_.exists(file(files_.max))))
    throw HardwareError(fmt::format("{} has neither the userspace governor nor {}/{}; this DVFS domain cannot be "
                                    "controlled, choose another backend",
                                    fs_.path(files_.dir), files_.min, files_.max));

  if (!files_.available.empty() && fs_.exists(file(files_.available))) {
    levels_ = fs_.readInts(file(files_.available));
    levels_source_ = files_.available;
  }
  if (levels_.empty() && !files_.stats.empty() && fs_.exists(file(files_.stats))) {
    levels_ = parseFrequencyStats(fs_.read(file(files_.stats)), files_.stats_is_trans_stat);
    levels_source_ = files_.stats;
  }
  if (levels_.empty()) {
    // No table (intel_pstate, amd-pstate): the hardware limits are the only levels we can name honestly.
    const std::string lo = files_.hw_min.empty() ? files_.min : files_.hw_min;
    const std::string hi = files_.hw_max.empty() ? files_.max : files_.hw_max;
    levels_ = {fs_.readInt(file(lo)), fs_.readInt(file(hi))};
    levels_source_ = lo + " and " + hi;
  }
  std::sort(levels_.begin(), levels_.end());
  levels_.erase(std::unique(levels_.begin(), levels_.end()), levels_.end());
}

Knob FrequencyDomain::describe(const std::string& knob_name) const {
  Knob k;
  k.name = knob_name;
  k.unit = files_.unit;
  k.levels = levels_;
  if (userspace_) {
    const bool setspeed_later = files_.setspeed_appears_with_governor && !fs_.exists(file(files_.setspeed));
    k.writable = fs_.writable(file(files_.governor)) && (setspeed_later || fs_.writable(file(files_.setspeed)));
    k.note = fmt::format("userspace governor + {}; levels from {}", fs_.path(file(files_.setspeed)), levels_source_);
  } else {
    k.writable = fs_.writable(file(files_.min)) && fs_.writable(file(files_.max));
    k.note = fmt::format("clamps {} = {}; levels from {}", files_.min, files_.max, levels_source_);
  }
  if (!k.writable) k.note += "; not writable by this process: run as root or add a udev rule";
  return k;
}

void FrequencyDomain::writeChecked(const std::string& name, std::int64_t value, RestoreJournal& journal,
                                   int owner) const {
  const std::string rel = file(name);
  if (fs_.tryReadInt(rel) == value) return;  // already there: fewer writes, and nothing to restore
  journal.record(fs_, rel, owner);  // the original is safe (and in the state file) before we change it
  fs_.write(rel, std::to_string(value));
  // The kernel silently clamps cpufreq/devfreq limits to thermal and QoS caps: read back to catch it.
  const auto now = fs_.tryReadInt(rel);
  if (now && *now != value)
    throw HardwareError(fmt::format("the kernel clamped {} to {} (asked {} {}): a thermal, power or QoS limit holds "
                                    "it; choose a level within the limit or lift it",
                                    fs_.path(rel), *now, value, files_.unit));
}

void FrequencyDomain::set(std::int64_t value, RestoreJournal& journal, int owner) const {
  if (userspace_) {
    const std::string gov = file(files_.governor);
    if (fs_.readTrimmed(gov) != "userspace") {
      journal.record(fs_, gov, owner);
      fs_.write(gov, "userspace");
    }
    // Under another governor the set-speed file reads "<unsupported>" (cpufreq) or "undefined" (devfreq), which
    // the kernel will not take back; restoring the governor is what counts, so that write is best effort.
    if (fs_.exists(file(files_.setspeed))) journal.record(fs_, file(files_.setspeed), owner, !was_userspace_);
    fs_.write(file(files_.setspeed), std::to_string(value));
    const auto now = fs_.tryReadInt(file(files_.setspeed));
    if (now && *now != value)
      throw HardwareError(fmt::format("the kernel set {} to {} instead of {} {}; choose another level",
                                      fs_.path(file(files_.setspeed)), *now, value, files_.unit));
    return;
  }
  // The kernel may refuse min > max, so move the bound on the side we go towards first.
  const std::int64_t cur_min = fs_.readInt(file(files_.min));
  if (value < cur_min) {
    writeChecked(files_.min, value, journal, owner);
    writeChecked(files_.max, value, journal, owner);
  } else {
    writeChecked(files_.max, value, journal, owner);
    writeChecked(files_.min, value, journal, owner);
  }
}

std::int64_t FrequencyDomain::read() const {
  if (userspace_ && fs_.readTrimmed(file(files_.governor)) == "userspace") {
    if (auto v = fs_.tryReadInt(file(files_.setspeed))) return *v;
  }
  return fs_.readInt(file(files_.cur));
}

}  // namespace dyndnn::hw
