#pragma once
// RestoreJournal: the original content of every knob file a governor changes, recorded before the first
// write. It is what makes "restore what was found" exact (values are written back byte for byte) and what the
// SIGINT/SIGTERM handler and `dyndnn hw --restore` replay. Entries live in fixed buffers that are only ever
// published (never moved or freed) while the journal lives, so a signal handler can read them without locks
// or allocation.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "sysfs.hpp"

namespace dyndnn::hw {

class RestoreJournal {
 public:
  static constexpr std::size_t kCapacity = 128;
  static constexpr std::size_t kPathBytes = 512;
  static constexpr std::size_t kValueBytes = 256;

  /// A private journal, or the one shared by every governor given the same non-empty state file.
  static std::shared_ptr<RestoreJournal> open(const std::string& state_file);

  explicit RestoreJournal(std::string state_file);
  ~RestoreJournal();
  RestoreJournal(const RestoreJournal&) = delete;
  RestoreJournal& operator=(const RestoreJournal&) = delete;

  /// Remembers the current content of `rel` for `owner` unless already remembered, persisting the state file
  /// before returning, so the caller may then change the file.
  /// `best_effort`: the original is not a value the kernel takes back ("<unsupported>" in scaling_setspeed
  /// under another governor); restoring the governor is what matters, so a refused write is not a failure.
  void record(const Sysfs& fs, const std::string& rel, int owner, bool best_effort = false);
  /// Writes back `owner`'s originals, newest first, retrying failed writes once more (restoring min before max
  /// can be refused until max is back). Throws HardwareError listing what could not be restored.
  void restore(int owner);
  bool has(int owner) const;
  /// A fresh owner id for a governor sharing this journal.
  int newOwner() { return next_owner_.fetch_add(1); }

  /// Async-signal-safe: writes back every active entry of every live journal. Returns files not restored.
  static int restoreAllFromSignal() noexcept;

 private:
  struct Entry {
    std::atomic<bool> active{false};
    int owner = 0;
    bool best_effort = false;
    char path[kPathBytes] = {};
    char value[kValueBytes] = {};
    std::size_t value_len = 0;
  };
  void persistLocked();
  int replayLocked(int owner, std::string* failures);
  static int writeRaw(const Entry& e) noexcept;

  std::string state_file_;
  mutable std::mutex mutex_;
  std::unique_ptr<Entry[]> entries_;
  std::atomic<std::size_t> count_{0};
  std::atomic<int> next_owner_{1};
};

}  // namespace dyndnn::hw
