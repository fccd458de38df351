#include "api/search_output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "dyndnn/error.hpp"
#include "format/package_writer.hpp"

namespace dyndnn::search {

using nlohmann::json;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double worst(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

}  // namespace

json TableReport::toJson() const {
  return {{"raw_median", raw_median}, {"raw_worst", raw_worst}, {"corrected_median", corrected_median},
          {"corrected_worst", corrected_worst}, {"correction", {{"a", a}, {"b_ms", b}}}};
}

TableReport tableReport(const std::vector<ValidationRow>& held_out, const std::vector<Candidate>& timed) {
  TableReport r;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& c : timed) {
    if (!c.measured_ms) continue;
    const double x = c.predicted_ms.at(0), y = *c.measured_ms;
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double d = n * sxx - sx * sx;
  if (n >= 3 && std::abs(d) > 1e-12 * std::max(1.0, n * sxx)) {
    r.a = (n * sxy - sx * sy) / d;
    r.b = (sy - r.a * sx) / n;
  } else if (sx > 0) {
    r.a = sy / sx;  // too few or too alike to fit a line: a ratio
  }
  std::vector<double> raw, corrected;
  for (const auto& v : held_out) {
    raw.push_back(100.0 * std::abs(v.predicted_ms / v.measured_ms - 1.0));
    corrected.push_back(100.0 * std::abs((r.a * v.predicted_ms + r.b) / v.measured_ms - 1.0));
  }
  r.raw_median = median(raw);
  r.raw_worst = worst(raw);
  r.corrected_median = median(corrected);
  r.corrected_worst = worst(corrected);
  return r;
}

void writeSearchPackage(const std::string& path, const format::Package& source, const std::vector<ChosenPoint>& points,
                        const json& selection, const std::vector<std::pair<int, std::map<std::string, double>>>& tables,
                        const std::string& backend) {
  auto meta = json::parse(source.file.metadata().at(format::kMetadataKey));
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : source.file.entries())
    if (e.name.rfind("op.", 0) != 0) tensors.emplace_back(e.name, source.file.tensor(e));
  json ops = json::array();
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    for (const auto& [node, stat] : p.stats) {
      // A BN node is named after its layer plus ".bn"; the package stores op.<i>.<layer>.running_{mean,var}.
      const auto layer = node.size() > 3 && node.compare(node.size() - 3, 3, ".bn") == 0 ? node.substr(0, node.size() - 3) : node;
      tensors.emplace_back(format::Package::bnStatName(i, layer, "running_mean"), stat.first.contiguous());
      tensors.emplace_back(format::Package::bnStatName(i, layer, "running_var"), stat.second.contiguous());
    }
    const auto& c = p.candidate;
    json latency = json::object();
    for (std::size_t t = 0; t < tables.size(); ++t) latency[std::to_string(tables[t].first)] = c.predicted_ms.at(t);
    ops.push_back({{"name", p.name},
                   {"config", json::parse(c.key)},
                   {"bn_stats", !p.stats.empty()},
                   {"metrics", {{"macs", c.macs}, {"params", c.params}, {"accuracy", *c.accuracy},
                                {"screen_accuracy", c.screen_accuracy}, {"latency_ms", *c.measured_ms},
                                {"latency_threads", tables.front().first}, {"predicted_latency_ms", latency}}}});
  }
  meta["operating_points"] = ops;
  meta["selection"] = selection;
  json lt = json::array();
  for (const auto& [threads, entries] : tables) lt.push_back({{"threads", threads}, {"backend", backend}, {"entries", entries}});
  meta["latency_tables"] = lt;
  format::writePackageAtomically(path, meta, tensors);
}

}  // namespace dyndnn::search
