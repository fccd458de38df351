#include "knob_governor.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "dyndnn/error.hpp"

namespace dyndnn::hw {

std::vector<Knob> KnobGovernor::knobs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return knobs_;
}

const Knob& KnobGovernor::knob(const std::string& name) const {
  for (const auto& k : knobs_)
    if (k.name == name) return k;
  std::string names;
  for (const auto& k : knobs_) names += (names.empty() ? "" : ", ") + k.name;
  throw InvalidArgument(fmt::format("governor '{}' has no knob '{}'; its knobs: {}", this->name(), name, names));
}

void KnobGovernor::apply(const HardwareState& state) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<const Knob*, std::int64_t>> changes;
  for (const auto& [name, value] : state) {  // validate everything before changing anything
    const Knob& k = knob(name);
    if (!accepts(k, value))
      throw HardwareError(fmt::format("{}: the hardware does not offer {} {} (offered: {}); choose one of those",
                                      k.name, value, k.unit, fmt::join(k.levels, " ")));
    if (!k.writable) throw HardwareError(fmt::format("{} is not writable: {}", k.name, k.note));
    auto it = applied_.find(name);
    if (it == applied_.end() || it->second != value) changes.emplace_back(&k, value);
  }
  if (changes.empty()) return;  // the common per-frame case: no system call at all

  const HardwareState before = applied_;
  try {
    for (const auto& [k, value] : changes) {
      setKnob(*k, value);
      applied_[k->name] = value;
    }
  } catch (const std::exception& e) {
    // Undo by going back to what was found and re-applying the state that held before this call: exact at
    // the file level, whereas undoing knob by knob could not recover e.g. a min/max range.
    std::string outcome = "rolled back to the previous state";
    try {
      restoreOriginal();
      applied_.clear();
      for (const auto& [name, value] : before) {
        setKnob(knob(name), value);
        applied_[name] = value;
      }
    } catch (const std::exception& again) {
      outcome = fmt::format("and rolling back failed too: {}", again.what());
    }
    throw HardwareError(fmt::format("{} ({})", e.what(), outcome));
  }
}

bool KnobGovernor::accepts(const Knob& k, std::int64_t value) const {
  return std::find(k.levels.begin(), k.levels.end(), value) != k.levels.end();
}

HardwareState KnobGovernor::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  HardwareState s;
  for (const auto& k : knobs_) s[k.name] = readKnob(k);
  return s;
}

HardwareState KnobGovernor::applied() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return applied_;
}

void KnobGovernor::restore() {
  std::lock_guard<std::mutex> lock(mutex_);
  applied_.clear();  // even if restoring fails, the cache must not claim a level that may not hold
  restoreOriginal();
}

void KnobGovernor::restoreQuietly() noexcept {
  try {
    restore();
  } catch (...) {
  }
}

}  // namespace dyndnn::hw
