// One hardware arbiter per process: placements (exclusive resources) by priority, shared knobs at the maximum
// any model needs, each model's operating point chosen within that.

#include <algorithm>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/assign_in_place.hpp"

namespace dyndnn::runtime {

bool KnobFloor::sameResource(const HardwareState& hw) const {
  for (const auto& [k, v] : where)
    if (auto w = hw.find(k); w != hw.end() && w->second != v) return false;
  return true;
}

std::vector<std::pair<std::size_t, Decision>> rankPlacements(const RuntimeManager& manager,
                                                             const std::vector<HardwareState>& placements) {
  std::vector<std::pair<std::size_t, Decision>> ranked;
  for (std::size_t i = 0; i < placements.size(); ++i) {
    try {
      ranked.emplace_back(i, manager.evaluate(placements[i]));
    } catch (const InvalidArgument&) {
      // no profile entry under this placement
    }
  }
  const auto& entries = manager.profile().entries;
  const bool accuracy_first = manager.target().objective == Objective::MostAccuracy;
  std::stable_sort(ranked.begin(), ranked.end(), [&](const auto& x, const auto& y) {
    const int ux = __builtin_popcount(x.second.unmet), uy = __builtin_popcount(y.second.unmet);
    if (ux != uy) return ux < uy;
    const double ax = entries[static_cast<std::size_t>(x.second.entry)].accuracyRank();
    const double ay = entries[static_cast<std::size_t>(y.second.entry)].accuracyRank();
    if (accuracy_first && ax != ay) return ax > ay;
    return x.second.predicted_energy_j < y.second.predicted_energy_j;
  });
  return ranked;
}

HardwareArbiter::HardwareArbiter(std::shared_ptr<hw::Governor> governor) : governor_(std::move(governor)) {
  if (governor_)
    for (const auto& k : governor_->knobs()) governor_knobs_.push_back(k.name);
}

void HardwareArbiter::updateExclusive() {
  exclusive_.clear();
  for (const auto& [id, m] : models_)
    if (!m.exclusive_knob.empty()) exclusive_.insert(m.exclusive_knob);
}

int HardwareArbiter::add(Registration r) {
  if (!r.manager) throw InvalidArgument("hardware arbiter: add() needs a RuntimeManager");
  if (r.name.empty()) throw InvalidArgument("hardware arbiter: a model needs a name to register (unique per arbiter)");
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, m] : models_)
    if (m.name == r.name) throw InvalidArgument(fmt::format("hardware arbiter: a model named '{}' is already registered", r.name));
  for (const auto& p : r.placements)
    if (!r.exclusive_knob.empty() && !p.count(r.exclusive_knob))
      throw InvalidArgument(fmt::format("hardware arbiter: a placement of '{}' lacks its exclusive knob '{}'", r.name,
                                        r.exclusive_knob));
  const int id = next_id_++;
  models_.emplace(id, std::move(r));
  updateExclusive();
  return id;
}

void HardwareArbiter::remove(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = models_.find(id);
  if (it == models_.end()) return;
  it->second.manager->restrict({});
  models_.erase(it);
  granted_.erase(id);
  needs_.erase(id);
  updateExclusive();
}

std::vector<int> HardwareArbiter::ids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int> out;
  for (const auto& [id, m] : models_) out.push_back(id);
  return out;
}

HardwareState HardwareArbiter::granted(int id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = granted_.find(id);
  return it == granted_.end() ? HardwareState{} : it->second;
}

HardwareState HardwareArbiter::granted(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = granted_.find(idOf(name));
  return it == granted_.end() ? HardwareState{} : it->second;
}

void HardwareArbiter::rearbitrate() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int> order;
  for (const auto& [id, m] : models_) order.push_back(id);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return models_[a].priority > models_[b].priority; });
  // Every placement is decided before any is applied: a model left without one throws with nothing changed.
  std::map<int, HardwareState> next;
  std::set<std::pair<std::string, std::int64_t>> taken;
  for (int id : order) {
    auto& m = models_[id];
    if (m.placements.empty()) {
      next[id] = {};
      continue;
    }
    int best = -1;
    for (const auto& [i, d] : rankPlacements(*m.manager, m.placements)) {
      if (!m.exclusive_knob.empty() && taken.count({m.exclusive_knob, m.placements[i].at(m.exclusive_knob)})) continue;
      best = static_cast<int>(i);
      break;
    }
    if (best < 0)
      throw InvalidArgument(fmt::format(
          "hardware arbiter: no free placement for '{}' (all {} taken by higher-priority models); give it more "
          "placements or lower another model's priority", m.name, m.placements.size()));
    const auto& p = m.placements[static_cast<std::size_t>(best)];
    if (!m.exclusive_knob.empty()) taken.insert({m.exclusive_knob, p.at(m.exclusive_knob)});
    next[id] = p;
  }
  for (auto& [id, p] : next) {
    models_[id].manager->restrict(p);
    granted_[id] = std::move(p);
  }
}

int HardwareArbiter::idOf(const std::string& name) const {
  for (const auto& [id, m] : models_)
    if (m.name == name) return id;
  throw InvalidArgument(fmt::format("hardware arbiter: no model named '{}' is registered", name));
}

Decision HardwareArbiter::decide(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return decideLocked(idOf(name));
}

Decision HardwareArbiter::decide(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return decideLocked(id);
}

void HardwareArbiter::done(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = needs_.find(idOf(name)); it != needs_.end()) it->second.running = false;
}

void HardwareArbiter::done(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = needs_.find(id); it != needs_.end()) it->second.running = false;
}

Decision HardwareArbiter::decideLocked(int id) {
  auto it = models_.find(id);
  if (it == models_.end()) throw InvalidArgument(fmt::format("hardware arbiter: no model with id {}", id));
  auto& m = it->second;
  // Shared knobs other running models hold (on their own exclusive resources, when placements are exclusive:
  // two clusters' frequencies are not one knob): this model's frame runs at least that high, so it chooses
  // among entries there, in one decision (a stateful policy must advance one frame per frame). The scratch
  // is overwritten in place: a steady frame allocates nothing.
  std::size_t n = 0;
  for (const auto& [oid, need] : needs_) {
    if (oid == id || !need.running) continue;
    for (const auto& [k, v] : need.hw) {
      if (exclusive_.count(k) || k == hw::knobs::kThreads) continue;
      if (n == floors_.size()) floors_.emplace_back();
      auto& f = floors_[n++];
      f.knob = k;
      f.level = v;
      assignInPlace(f.where, need.where);
    }
  }
  const Decision d = m.manager->before(floors_.data(), n);
  const auto& hw = m.manager->profile().entries[static_cast<std::size_t>(d.entry)].hw;
  auto& need = needs_[id];
  assignInPlace(need.hw, hw);
  assignInPlace(need.where, hw, [&](const std::string& k) { return exclusive_.count(k) > 0; });
  need.running = true;
  if (governor_) {
    assignInPlace(apply_, hw, [&](const std::string& k) {
      return !exclusive_.count(k) && std::find(governor_knobs_.begin(), governor_knobs_.end(), k) != governor_knobs_.end();
    });
    for (std::size_t i = 0; i < n; ++i) {  // never below what a running model holds, even when no entry was above it
      auto a = apply_.find(floors_[i].knob);
      if (a != apply_.end() && floors_[i].sameResource(hw)) a->second = std::max(a->second, floors_[i].level);
    }
    governor_->apply(apply_);
  }
  return d;
}

}  // namespace dyndnn::runtime
