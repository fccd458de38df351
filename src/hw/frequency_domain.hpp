#pragma once
// FrequencyDomain: one DVFS domain driven through sysfs, shared by cpufreq (a CPU policy, kHz) and devfreq
// (a GPU, Hz), which follow the same rules with different file names: the `userspace` governor plus a
// set-speed file where the kernel offers it, otherwise min = max clamping; levels from the driver's table,
// else its statistics, else just min and max. Every changed file is journalled first.

#include <cstdint>
#include <string>
#include <vector>

#include "dyndnn/hw/governor.hpp"
#include "sysfs.hpp"
#include "restore_journal.hpp"

namespace dyndnn::hw {

struct FrequencyFiles {
  std::string dir;                  // relative to the root
  std::string governor, available_governors, setspeed, min, max, cur, available, stats;
  std::string hw_min, hw_max;       // hardware limits; empty: the min/max found at start
  bool stats_is_trans_stat = false; // devfreq trans_stat table, else cpufreq "freq time" lines
  bool setspeed_appears_with_governor = false;  // devfreq creates userspace/set_freq only under userspace
  std::string unit;                 // "kHz" or "Hz"
};

class FrequencyDomain {
 public:
  FrequencyDomain(const Sysfs& fs, FrequencyFiles files, GovernorOptions::FrequencyMode mode);

  /// The knob with its levels, writability and a note saying how it is driven.
  Knob describe(const std::string& knob_name) const;
  /// Sets the frequency; throws HardwareError when the kernel refuses or clamps it.
  void set(std::int64_t value, RestoreJournal& journal, int owner) const;
  /// The frequency now: the set-speed file under userspace, else the current-frequency file.
  std::int64_t read() const;
  bool userspace() const { return userspace_; }
  const std::vector<std::int64_t>& levels() const { return levels_; }

 private:
  std::string file(const std::string& name) const { return files_.dir + "/" + name; }
  void writeChecked(const std::string& name, std::int64_t value, RestoreJournal& journal, int owner) const;

  Sysfs fs_;
  FrequencyFiles files_;
  bool userspace_ = false;
  bool was_userspace_ = false;  // then the set-speed file holds a real value worth restoring
  std::vector<std::int64_t> levels_;
  std::string levels_source_;
};

/// First column of "freq time" lines (cpufreq stats/time_in_state) or the row labels of a devfreq trans_stat.
std::vector<std::int64_t> parseFrequencyStats(const std::string& text, bool trans_stat);

}  // namespace dyndnn::hw
