#pragma once
/// \file sysfs.hpp
/// The one door through which dyndnn reads and writes kernel files (sysfs, procfs). Every path is relative
/// to a root directory ("/" on a device, a temporary directory in tests), so each backend runs unchanged on a
/// fake tree. Writes are refused unless the path is a known knob (see isKnobPath), so a bug or a tampered
/// state file can never make dyndnn write elsewhere as root.
///
/// Thread safety: a Sysfs object is immutable after construction; all methods may be called concurrently.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dyndnn::hw {

class Sysfs {
 public:
  /// `root` is the directory that stands for "/"; it must exist.
  explicit Sysfs(std::string root = "/");

  const std::string& root() const { return root_; }
  /// The real path of `rel` ("sys/devices/..." or "/sys/devices/..."; both mean the same).
  std::string path(const std::string& rel) const;

  bool exists(const std::string& rel) const;
  bool isDirectory(const std::string& rel) const;
  /// Whether this process may write the file (access(W_OK)); false when it does not exist.
  bool writable(const std::string& rel) const;
  /// Sorted names in a directory; empty when it does not exist.
  std::vector<std::string> list(const std::string& rel) const;

  /// Whole content, verbatim. Throws HardwareError naming the path and the remedy when missing or unreadable.
  std::string read(const std::string& rel) const;
  std::optional<std::string> tryRead(const std::string& rel) const;
  /// Content without surrounding whitespace.
  std::string readTrimmed(const std::string& rel) const;
  /// One integer; garbage is a HardwareError naming the path and what was found.
  std::int64_t readInt(const std::string& rel) const;
  std::optional<std::int64_t> tryReadInt(const std::string& rel) const;
  /// Whitespace-separated integers ("scaling_available_frequencies").
  std::vector<std::int64_t> readInts(const std::string& rel) const;
  /// Whitespace-separated words ("scaling_available_governors").
  std::vector<std::string> readWords(const std::string& rel) const;

  /// Writes `value` to a known knob file (truncating it, as sysfs does). Throws HardwareError when the path
  /// is not a knob, is missing, the permission is denied (remedy: root or a udev rule) or the kernel rejects
  /// the value.
  void write(const std::string& rel, const std::string& value) const;

 private:
  std::string root_;
};

/// Whether `rel` is a file dyndnn may write: cpufreq policy limits/governor/setspeed, devfreq
/// governor/min/max/set_freq, or the enable switch of an INA231 sensor. Paths with ".." are never knobs.
bool isKnobPath(const std::string& rel);

/// Normalises "/sys/x" and "sys/x" to "sys/x".
std::string relativeSysPath(const std::string& rel);

/// Parses a kernel CPU list ("0-3,6,8-9") into sorted CPU numbers; garbage is a HardwareError.
std::vector<int> parseCpuList(const std::string& text);
// formatCpuList, the inverse, is public: dyndnn/hw/affinity.hpp.

}  // namespace dyndnn::hw
