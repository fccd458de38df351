#include "api/search_state.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "dyndnn/error.hpp"
#include "format/package_writer.hpp"

namespace dyndnn::search {

using nlohmann::json;

namespace {
json optional(const std::optional<double>& v) { return v ? json(*v) : json(); }
std::optional<double> optional(const json& j) { return j.is_null() ? std::nullopt : std::optional<double>(j.get<double>()); }
}  // namespace

json candidateToJson(const Candidate& c) {
  return {{"config", json::parse(c.key)}, {"macs", c.macs}, {"params", c.params},
          {"predicted_ms", c.predicted_ms}, {"screen_accuracy", c.screen_accuracy},
          {"accuracy", optional(c.accuracy)}, {"measured_ms", optional(c.measured_ms)}, {"origin", c.origin}};
}

Candidate candidateFromJson(const json& j) {
  Candidate c;
  c.key = j.at("config").dump();
  c.config = SubnetConfig::fromJson(c.key);
  c.key = c.config.toJson();
  c.macs = j.at("macs").get<std::int64_t>();
  c.params = j.at("params").get<std::int64_t>();
  c.predicted_ms = j.at("predicted_ms").get<std::vector<double>>();
  c.screen_accuracy = j.at("screen_accuracy").get<double>();
  c.accuracy = optional(j.at("accuracy"));
  c.measured_ms = optional(j.at("measured_ms"));
  c.origin = j.at("origin").get<std::string>();
  return c;
}

json stateToJson(const SearchState& s) {
  json v = json::array(), c = json::array();
  for (const auto& r : s.validation)
    v.push_back({{"config", json::parse(r.config)}, {"macs", r.macs}, {"predicted_ms", r.predicted_ms},
                 {"measured_ms", r.measured_ms}});
  for (const auto& x : s.candidates) c.push_back(candidateToJson(x));
  return {{"identity", s.identity}, {"seconds", s.seconds}, {"tables", s.tables},
          {"table_configs_done", s.table_configs_done}, {"validation", v},
          {"candidates", c}};
}

SearchState stateFromJson(const json& j) {
  SearchState s;
  s.identity = j.at("identity");
  s.seconds = j.at("seconds").get<double>();
  s.tables = j.at("tables").get<std::vector<std::map<std::string, double>>>();
  s.table_configs_done = j.at("table_configs_done").get<int>();
  for (const auto& r : j.at("validation"))
    s.validation.push_back({SubnetConfig::fromJson(r.at("config").dump()).toJson(), r.at("macs").get<std::int64_t>(),
                            r.at("predicted_ms").get<double>(), r.at("measured_ms").get<double>()});
  for (const auto& c : j.at("candidates")) s.candidates.push_back(candidateFromJson(c));
  return s;
}

void writeJsonAtomically(const std::string& path, const json& j) {
  const auto tmp = path + ".partial";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump(1) << '\n';
    if (!f.flush()) throw IoError(fmt::format("{}: cannot write: {}", tmp, std::strerror(errno)));
  }
  format::moveIntoPlace(tmp, path);
}

}  // namespace dyndnn::search
