#include "runtime/knob_columns.hpp"

#include <algorithm>

namespace dyndnn::runtime {

KnobColumns::KnobColumns(const Profile& profile) {
  for (const auto& e : profile.entries)
    for (const auto& [k, v] : e.hw)
      if (column(k) < 0) names_.push_back(k);
  levels_.assign(profile.entries.size() * names_.size(), kAbsent);
  for (std::size_t i = 0; i < profile.entries.size(); ++i)
    for (const auto& [k, v] : profile.entries[i].hw)
      levels_[i * names_.size() + static_cast<std::size_t>(column(k))] = v;
}

int KnobColumns::column(const std::string& knob) const {
  const auto it = std::find(names_.begin(), names_.end(), knob);
  return it == names_.end() ? -1 : static_cast<int>(it - names_.begin());
}

void KnobFilter::prepare(const KnobColumns& table, const PolicyContext& ctx) {
  table_ = &table;
  granted_.clear();
  floors_.clear();
  where_.clear();
  impossible_grant_ = false;
  for (const auto& k : ctx.fixed_knobs) {
    const auto g = ctx.granted.find(k);
    if (g == ctx.granted.end()) continue;
    const int c = table.column(k);
    if (c < 0) impossible_grant_ = true;  // every entry lacks it
    else granted_.push_back({c, g->second});
  }
  for (std::size_t i = 0; i < ctx.floor_count; ++i) {
    const auto& f = ctx.floors[i];
    const int c = table.column(f.knob);
    if (c < 0) continue;  // no entry has the knob: the floor holds no entry back
    Need n{c, f.level, where_.size(), where_.size()};
    for (const auto& [k, v] : f.where)
      if (const int wc = table.column(k); wc >= 0) where_.emplace_back(wc, v);  // an absent knob never differs
    n.where_end = where_.size();
    floors_.push_back(n);
  }
}

bool KnobFilter::allowed(std::size_t entry) const {
  if (impossible_grant_) return false;
  for (const auto& g : granted_)
    if (table_->at(entry, g.column) != g.level) return false;  // kAbsent never equals a granted level
  return true;
}

bool KnobFilter::aboveFloors(std::size_t entry) const {
  for (const auto& f : floors_) {
    const auto level = table_->at(entry, f.column);
    if (level == KnobColumns::kAbsent || level >= f.level) continue;
    bool same_resource = true;
    for (std::size_t w = f.where_begin; w < f.where_end && same_resource; ++w) {
      const auto v = table_->at(entry, where_[w].first);
      same_resource = v == KnobColumns::kAbsent || v == where_[w].second;
    }
    if (same_resource) return false;
  }
  return true;
}

}  // namespace dyndnn::runtime
