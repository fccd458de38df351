// Every profile entry's knob levels in one flat array, for the filters a decision runs over all entries (the
// levels the arbiter granted, other models' floors). Each entry's HardwareState is a std::map whose nodes are
// scattered over the heap: after an inference has flushed the caches, looking knobs up in 16 entries' maps for
// every floor cost a managed frame microseconds; the same checks on this table read a few cache lines.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "dyndnn/runtime.hpp"

namespace dyndnn::runtime {

class KnobColumns {
 public:
  static constexpr std::int64_t kAbsent = std::numeric_limits<std::int64_t>::min();

  KnobColumns() = default;
  explicit KnobColumns(const Profile& profile);
  /// The column of `knob`, or -1 when no entry has it.
  int column(const std::string& knob) const;
  /// Entry `entry`'s level of the knob in `column` (a column() result >= 0), kAbsent when it lacks the knob.
  std::int64_t at(std::size_t entry, int column) const {
    return levels_[entry * names_.size() + static_cast<std::size_t>(column)];
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::int64_t> levels_;  // entries x names_.size()
};

/// A decision's filters on a KnobColumns table, with the knob names resolved once per decision (prepare) instead
/// of once per entry. Its scratch is kept between frames: a steady frame allocates nothing.
class KnobFilter {
 public:
  void prepare(const KnobColumns& table, const PolicyContext& ctx);
  /// The entry has the level the arbiter granted for every knob it fixed.
  bool allowed(std::size_t entry) const;
  /// No floor of another running model, on the resource this entry runs on, is above this entry's level.
  bool aboveFloors(std::size_t entry) const;

 private:
  struct Need {  // a level a knob must have (granted) or may not fall below (floor)
    int column;
    std::int64_t level;
    std::size_t where_begin = 0, where_end = 0;  // a floor's resource: where_[begin, end)
  };
  const KnobColumns* table_ = nullptr;
  std::vector<Need> granted_, floors_;
  std::vector<std::pair<int, std::int64_t>> where_;
  bool impossible_grant_ = false;  // a granted knob no entry has: nothing is allowed
};

}  // namespace dyndnn::runtime
