#pragma once
// What a search keeps on disk (OUT.search.json, rewritten atomically after every step, so an interrupted run
// resumes where it stopped) and the JSON of its candidates (OUT.candidates.json).

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "api/search_front.hpp"

namespace dyndnn::search {

struct ValidationRow {  // a held-out random sub-network: predicted by the table and timed whole
  std::string config;
  std::int64_t macs = 0;
  double predicted_ms = 0, measured_ms = 0;
};

struct SearchState {
  nlohmann::json identity;  // what determines the results: a state of another search is not resumed
  double seconds = 0;       // spent by earlier runs
  std::vector<std::map<std::string, double>> tables;  // per thread count: segment key -> ms
  int table_configs_done = 0;  // uniform configs measured
  std::vector<ValidationRow> validation;
  std::vector<Candidate> candidates;
};

nlohmann::json candidateToJson(const Candidate& c);
Candidate candidateFromJson(const nlohmann::json& j);
nlohmann::json stateToJson(const SearchState& s);
SearchState stateFromJson(const nlohmann::json& j);

/// Writes `j` to `path` through a temporary file renamed over it (never a torn file). Throws IoError.
void writeJsonAtomically(const std::string& path, const nlohmann::json& j);

}  // namespace dyndnn::search
