// Several governors as one (CPU DVFS x GPU DVFS x affinity). Each child is already all-or-nothing; across
// children, a failure undoes the children changed earlier by restoring them and re-applying what they
// held before, which is exact because each child restores from its own journal.

#include "composite_governor.hpp"

#include <fmt/format.h>

#include "affinity_governor.hpp"
#include "dyndnn/error.hpp"

namespace dyndnn::hw {

CompositeGovernor::CompositeGovernor(std::vector<std::unique_ptr<Governor>> children) : children_(std::move(children)) {
  std::map<std::string, std::string> seen;
  for (const auto& child : children_) {
    if (!child) throw InvalidArgument("composite governor: null child");
    owned_.emplace_back();
    for (const auto& k : child->knobs()) {
      auto [it, fresh] = seen.emplace(k.name, child->name());
      if (!fresh)
        throw InvalidArgument(fmt::format("composite governor: knob '{}' offered by both '{}' and '{}'", k.name,
                                          it->second, child->name()));
      owned_.back().push_back(k.name);
    }
  }
}

CompositeGovernor::~CompositeGovernor() {
  // Children restore themselves in their destructors; destroy in reverse order of construction.
  while (!children_.empty()) children_.pop_back();
}

std::string CompositeGovernor::name() const {
  std::string n;
  for (const auto& c : children_) n += (n.empty() ? "" : "+") + c->name();
  return n.empty() ? "none" : n;
}

std::vector<Knob> CompositeGovernor::knobs() const {
  std::vector<Knob> all;
  for (const auto& c : children_)
    for (auto& k : c->knobs()) all.push_back(std::move(k));
  return all;
}

void CompositeGovernor::apply(const HardwareState& state) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<HardwareState> parts(children_.size());
  for (const auto& [name, value] : state) {
    bool found = false;
    for (std::size_t i = 0; i < children_.size() && !found; ++i)
      for (const auto& n : owned_[i])
        if (n == name) {
          parts[i][name] = value;
          found = true;
          break;
        }
    if (!found) throw InvalidArgument(fmt::format("governor '{}' has no knob '{}'", this->name(), name));
  }
  std::vector<std::pair<std::size_t, HardwareState>> done;  // child, what it held before
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (parts[i].empty()) continue;
    HardwareState before = children_[i]->applied();
    try {
      children_[i]->apply(parts[i]);
    } catch (const std::exception& e) {
      std::string outcome;
      for (auto it = done.rbegin(); it != done.rend(); ++it) {
        try {
          children_[it->first]->restore();
          if (!it->second.empty()) children_[it->first]->apply(it->second);
        } catch (const std::exception& again) {
          outcome += fmt::format("; undoing {} failed: {}", children_[it->first]->name(), again.what());
        }
      }
      throw HardwareError(fmt::format("{}{}", e.what(), outcome.empty() ? "; other governors rolled back" : outcome));
    }
    done.emplace_back(i, std::move(before));
  }
}

HardwareState CompositeGovernor::current() const {
  HardwareState s;
  for (const auto& c : children_) s.merge(c->current());
  return s;
}

HardwareState CompositeGovernor::applied() const {
  HardwareState s;
  for (const auto& c : children_) s.merge(c->applied());
  return s;
}

void CompositeGovernor::restore() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string failures;
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    try {
      (*it)->restore();  // every child gets its chance even if one fails
    } catch (const std::exception& e) {
      failures += std::string(failures.empty() ? "" : "; ") + e.what();
    }
  }
  if (!failures.empty()) throw HardwareError(failures);
}

bool CompositeGovernor::simulated() const {
  for (const auto& c : children_)
    if (c->simulated()) return true;
  return false;
}

std::unique_ptr<Governor> makeCompositeGovernor(std::vector<std::unique_ptr<Governor>> children) {
  return std::make_unique<CompositeGovernor>(std::move(children));
}

std::vector<WorkerBinding> boundWorkers(const Governor& governor) {
  if (auto* a = dynamic_cast<const AffinityGovernor*>(&governor)) return a->lastBinding();
  if (auto* c = dynamic_cast<const CompositeGovernor*>(&governor))
    for (const auto& child : c->children())
      if (auto b = boundWorkers(*child); !b.empty()) return b;
  return {};
}

}  // namespace dyndnn::hw
