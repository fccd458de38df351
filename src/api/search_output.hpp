#pragma once
// What a search writes: the output package (the searched package's shared weights, the chosen operating points
// with their own BN statistics and measured metrics, the latency tables) and the lookup table's error report.

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "api/search_front.hpp"
#include "api/search_state.hpp"
#include "engine/calibrate.hpp"
#include "format/package.hpp"

namespace dyndnn::search {

struct ChosenPoint {
  std::string name;
  Candidate candidate;  // fully evaluated
  engine::BatchNormStats stats;
};

/// The table's prediction against whole-network timings of the held-out sub-networks, |pred/meas - 1| in %:
/// raw, and after a linear correction (a * pred + b) fitted on the fully evaluated candidates' timings.
struct TableReport {
  double raw_median = 0, raw_worst = 0, corrected_median = 0, corrected_worst = 0;
  double a = 1, b = 0;
  nlohmann::json toJson() const;
};
TableReport tableReport(const std::vector<ValidationRow>& held_out, const std::vector<Candidate>& timed);

/// Writes `path` (through a temporary file renamed over it): `source`'s metadata and tensors without its
/// operating points' statistics, then `points` as its operating points, `selection` as metadata "selection" and
/// the tables (thread count -> segment key -> ms) as "latency_tables". Throws IoError.
void writeSearchPackage(const std::string& path, const format::Package& source, const std::vector<ChosenPoint>& points,
                        const nlohmann::json& selection,
                        const std::vector<std::pair<int, std::map<std::string, double>>>& tables,
                        const std::string& backend);

}  // namespace dyndnn::search
