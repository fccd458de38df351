#include "dyndnn/subnet_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "format/package.hpp"

namespace dyndnn {

SubnetConfig SubnetConfig::fromJson(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(fmt::format("sub-network config is not valid JSON: {}", e.what()));
  }
  return format::configFromJson(j, "sub-network config");
}

std::string SubnetConfig::toJson() const { return format::configToJson(*this).dump(); }

namespace {
// "7x20" when every value is the same, else the list.
std::string compact(const std::vector<int>& v) {
  if (!v.empty() && std::all_of(v.begin(), v.end(), [&](int x) { return x == v[0]; }))
    return v.size() == 1 ? fmt::format("{}", v[0]) : fmt::format("{}x{}", v[0], v.size());
  return fmt::format("{}", fmt::join(v, ","));
}
}  // namespace

std::string SubnetConfig::summary() const {
  std::string out;
  for (const auto& [name, values] : knobs) out += fmt::format("{}{}[{}]", out.empty() ? "" : " ", name, compact(values));
  if (r != 0) out += fmt::format("{}r{}", out.empty() ? "" : " ", r);
  return out;
}

const std::vector<int>& SubnetConfig::at(const std::string& knob) const {
  auto it = knobs.find(knob);
  if (it == knobs.end()) {
    std::vector<std::string> names;
    for (const auto& kv : knobs) names.push_back(kv.first);
    throw InvalidArgument(fmt::format("sub-network config has no knob '{}' (it has: {})", knob, fmt::join(names, ", ")));
  }
  return it->second;
}

}  // namespace dyndnn
