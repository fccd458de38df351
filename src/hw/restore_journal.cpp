#include "restore_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"

namespace dyndnn::hw {
namespace {

// Live journals, visible to the signal handler. Slots are claimed with compare-exchange so registration
// needs no lock the handler could interrupt.
constexpr int kMaxJournals = 64;
std::atomic<RestoreJournal*> g_journals[kMaxJournals];

// Set by the signal handler before it restores: another thread half-way through apply() must not change a
// knob again after the handler put it back (every knob write is preceded by record(), which checks this).
std::atomic<bool> g_terminating{false};

std::mutex g_shared_mutex;
std::map<std::string, std::weak_ptr<RestoreJournal>>& sharedJournals() {
  static std::map<std::string, std::weak_ptr<RestoreJournal>> m;
  return m;
}

void writeFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw HardwareError(fmt::format("cannot write state file {}: {}; choose a writable directory (e.g. /run) or "
                                    "leave GovernorOptions::state_file empty",
                                    tmp, std::strerror(errno)));
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ::fsync(fd) == 0 && ok;  // the point of the file is to survive the process: make it reach the disk
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw HardwareError(fmt::format("cannot write state file {}: {}", path, std::strerror(errno)));
}

}  // namespace

std::shared_ptr<RestoreJournal> RestoreJournal::open(const std::string& state_file) {
  if (state_file.empty()) return std::make_shared<RestoreJournal>("");
  std::lock_guard<std::mutex> lock(g_shared_mutex);
  auto& weak = sharedJournals()[state_file];
  if (auto j = weak.lock()) return j;
  auto j = std::make_shared<RestoreJournal>(state_file);
  weak = j;
  return j;
}

RestoreJournal::RestoreJournal(std::string state_file)
    : state_file_(std::move(state_file)), entries_(new Entry[kCapacity]) {
  for (auto& slot : g_journals) {
    RestoreJournal* expected = nullptr;
    if (slot.compare_exchange_strong(expected, this)) return;
  }
  throw HardwareError(fmt::format("more than {} governors alive at once; destroy unused ones", kMaxJournals));
}

RestoreJournal::~RestoreJournal() {
  for (auto& slot : g_journals) {
    RestoreJournal* expected = this;
    slot.compare_exchange_strong(expected, nullptr);
  }
}

bool RestoreJournal::has(int owner) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t n = count_.load();
  for (std::size_t i = 0; i < n; ++i)
    if (entries_[i].active.load() && entries_[i].owner == owner) return true;
  return false;
}

void RestoreJournal::record(const Sysfs& fs, const std::string& rel, int owner, bool best_effort) {
  if (g_terminating.load())
    throw HardwareError("the process is ending on a signal: dyndnn restored the hardware and changes nothing more");
  const std::string abs = fs.path(rel);
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t n = count_.load();
  Entry* reuse = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    Entry& e = entries_[i];
    if (std::strcmp(e.path, abs.c_str()) != 0 || e.owner != owner) continue;
    if (e.active.load()) return;  // the original is already known; later values are ours
    reuse = &e;
  }
  if (!isKnobPath(rel)) throw HardwareError(fmt::format("{} is not a known knob file; refusing to change it", abs));
  if (abs.size() >= kPathBytes) throw HardwareError(fmt::format("path too long to journal: {}", abs));
  const std::string original = fs.read(rel);
  if (original.size() >= kValueBytes)
    throw HardwareError(fmt::format("{} holds {} bytes, more than a knob value; refusing to change it", abs,
                                    original.size()));
  if (!reuse && n == kCapacity)
    throw HardwareError(fmt::format("restore journal full ({} files); destroy unused governors", kCapacity));
  Entry& e = reuse ? *reuse : entries_[n];
  // Fill the entry completely before publishing it (active / count) so a signal never sees half an entry.
  e.owner = owner;
  e.best_effort = best_effort;
  std::memcpy(e.path, abs.c_str(), abs.size() + 1);
  std::memcpy(e.value, original.data(), original.size());
  e.value_len = original.size();
  e.active.store(true);
  if (!reuse) count_.store(n + 1);
  try {
    persistLocked();
  } catch (...) {
    e.active.store(false);  // nothing was changed yet: forget the entry, report why we stop
    throw;
  }
}

void RestoreJournal::persistLocked() {
  if (state_file_.empty()) return;
  nlohmann::json entries = nlohmann::json::array();
  const std::size_t n = count_.load();
  for (std::size_t i = 0; i < n; ++i) {
    const Entry& e = entries_[i];
    if (e.active.load())
      entries.push_back(
          {{"path", e.path}, {"value", std::string(e.value, e.value_len)}, {"best_effort", e.best_effort}});
  }
  if (entries.empty()) {
    ::unlink(state_file_.c_str());
    return;
  }
  nlohmann::json doc = {{"format", "dyndnn-hw-state"}, {"version", 1}, {"pid", ::getpid()}, {"entries", entries}};
  writeFileAtomically(state_file_, doc.dump(1) + "\n");
}

int RestoreJournal::writeRaw(const Entry& e) noexcept {
  const int fd = ::open(e.path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t n = ::write(fd, e.value, e.value_len);
  const int closed = ::close(fd);
  return (n == static_cast<ssize_t>(e.value_len) && closed == 0) ? 0 : -1;
}

int RestoreJournal::replayLocked(int owner, std::string* failures) {
  const std::size_t n = count_.load();
  std::vector<std::size_t> failed;
  for (std::size_t i = n; i-- > 0;) {
    Entry& e = entries_[i];
    if (!e.active.load() || (owner != 0 && e.owner != owner)) continue;
    if (writeRaw(e) == 0)
      e.active.store(false);
    else
      failed.push_back(i);
  }
  int left = 0;
  for (std::size_t i : failed) {  // second pass: an ordering constraint (min <= max) may be satisfied now
    Entry& e = entries_[i];
    if (writeRaw(e) == 0 || e.best_effort) {
      e.active.store(false);
    } else {
      ++left;
      if (failures) *failures += fmt::format("{}{} (to '{}': {})", left > 1 ? ", " : "", e.path,
                                             std::string(e.value, e.value_len).substr(0, 40), std::strerror(errno));
    }
  }
  return left;
}

void RestoreJournal::restore(int owner) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string failures;
  const int left = replayLocked(owner, &failures);
  persistLocked();
  if (left > 0)
    throw HardwareError(fmt::format("could not restore {} file(s): {}; run as root or restore them by hand", left,
                                    failures));
}

int RestoreJournal::restoreAllFromSignal() noexcept {
  // No locks: the interrupted thread may hold one. Entries are published atomically; a double restore
  // (the interrupted thread was itself restoring) writes the same bytes twice, which is harmless.
  g_terminating.store(true);
  int left = 0;
  for (auto& slot : g_journals) {
    RestoreJournal* j = slot.load();
    if (!j) continue;
    const std::size_t n = j->count_.load();
    int failed_idx[kCapacity];
    int nfailed = 0;
    for (std::size_t i = n; i-- > 0;) {
      Entry& e = j->entries_[i];
      if (!e.active.load()) continue;
      if (writeRaw(e) == 0)
        e.active.store(false);
      else
        failed_idx[nfailed++] = static_cast<int>(i);
    }
    int journal_left = 0;
    for (int k = 0; k < nfailed; ++k) {
      Entry& e = j->entries_[failed_idx[k]];
      if (writeRaw(e) == 0 || e.best_effort)
        e.active.store(false);
      else
        ++journal_left;
    }
    // Everything is back: the state file would only make a supervisor restore stale values later.
    if (journal_left == 0 && !j->state_file_.empty()) ::unlink(j->state_file_.c_str());
    left += journal_left;
  }
  return left;
}

}  // namespace dyndnn::hw
