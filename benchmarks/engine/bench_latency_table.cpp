// How well a per-layer latency lookup table measured by the engine (engine/latency_table.hpp) predicts whole
// sub-networks on this machine, against the usual cheap predictor, latency proportional to MACs. The table is
// measured once over the family's uniform configs (every layer a sub-network can have); then random sub-networks
// are timed whole and predicted. Both predictors get a linear correction (a * prediction + b) fitted on the first
// half of the samples and are judged on the held-out second half; the raw table sum is reported too. Whole
// networks and segments are timed with the same options (backend, threads, warm-up, runs, median).
//   bench_latency_table --package P.dyn [--samples N] [--threads T] [--runs R] [--seed S] [--json OUT]

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "../bench_stats.hpp"
#include "engine/latency_table.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Fit {
  double a = 1.0, b = 0.0;
  double operator()(double x) const { return a * x + b; }
};

// Least squares of y on x.
Fit fit(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
  }
  const double d = n * sxx - sx * sx;
  if (std::abs(d) < 1e-300) return {};
  Fit f;
  f.a = (n * sxy - sx * sy) / d;
  f.b = (sy - f.a * sx) / n;
  return f;
}

// |prediction / measurement - 1| in percent, over the held-out samples: median and worst.
json errors(const std::vector<double>& predicted, const std::vector<double>& measured, std::size_t from) {
  std::vector<double> e;
  for (std::size_t i = from; i < measured.size(); ++i) e.push_back(100.0 * std::abs(predicted[i] / measured[i] - 1.0));
  return {{"median_pct", bench::median(e)}, {"p90_pct", bench::percentile(e, 0.9)},
          {"worst_pct", *std::max_element(e.begin(), e.end())}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, out;
  int samples = 30, seed = 0;
  dyndnn::engine::LatencyTableOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--package") path = next();
    else if (a == "--samples") samples = std::stoi(next());
    else if (a == "--threads") options.threads = std::stoi(next());
    else if (a == "--runs") options.runs = std::stoi(next());
    else if (a == "--seed") seed = std::stoi(next());
    else if (a == "--json") out = next();
    else throw std::runtime_error("unknown argument " + a);
  }
  if (path.empty() || samples < 4) throw std::runtime_error("usage: bench_latency_table --package P.dyn [--samples N>=4]");
  at::NoGradGuard no_grad;
  auto package = dyndnn::format::Package::open(path);
  const auto net = dyndnn::nn::openSupernet(package);
  const auto& resolutions = package.input.resolutions;

  dyndnn::engine::LatencyTable table(options);
  const auto t0 = Clock::now();
  const auto uniform = dyndnn::nn::uniformConfigs(*net, resolutions);
  for (const auto& c : uniform) table.measure(net->lower(c));
  const double table_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cerr << fmt::format("table: {} entries from {} uniform configs in {:.1f} s\n", table.size(), uniform.size(), table_s);

  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<double> measured, summed, macs;
  json rows = json::array();
  const auto t1 = Clock::now();
  for (int i = 0; i < samples; ++i) {
    const auto c = dyndnn::nn::randomConfig(*net, resolutions, rng);
    const auto g = net->lower(c);
    summed.push_back(table.predict(g));
    measured.push_back(table.measureWhole(g));
    macs.push_back(static_cast<double>(net->cost(c).macs));
    rows.push_back({{"config", c.toJson()}, {"macs", macs.back()}, {"measured_ms", measured.back()},
                    {"table_sum_ms", summed.back()}});
  }
  const double whole_s = std::chrono::duration<double>(Clock::now() - t1).count();
  const auto half = static_cast<std::size_t>(samples / 2);
  const std::vector<double> m_fit(measured.begin(), measured.begin() + half);
  const Fit table_fit = fit({summed.begin(), summed.begin() + half}, m_fit);
  const Fit macs_fit = fit({macs.begin(), macs.begin() + half}, m_fit);
  std::vector<double> table_corrected, by_macs;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    table_corrected.push_back(table_fit(summed[i]));
    by_macs.push_back(macs_fit(macs[i]));
    rows[i]["table_fitted_ms"] = table_corrected.back();
    rows[i]["macs_fitted_ms"] = by_macs.back();
    rows[i]["held_out"] = i >= half;
  }
  const json result = {
      {"package", path},
      {"family", package.family},
      {"threads", options.threads},
      {"runs", options.runs},
      {"table_entries", table.size()},
      {"uniform_configs", uniform.size()},
      {"table_seconds", table_s},
      {"whole_seconds", whole_s},
      {"samples", samples},
      {"held_out", samples - static_cast<int>(half)},
      {"table_fit", {{"a", table_fit.a}, {"b_ms", table_fit.b}}},
      {"macs_fit", {{"a_ms_per_mmac", macs_fit.a * 1e6}, {"b_ms", macs_fit.b}}},
      {"error_table_sum", errors(summed, measured, half)},
      {"error_table_fitted", errors(table_corrected, measured, half)},
      {"error_macs_fitted", errors(by_macs, measured, half)},
      {"rows", rows}};
  std::cout << fmt::format(
      "{} ({} threads): held-out |error| median / worst: table sum {:.1f}% / {:.1f}%, table fitted {:.1f}% / "
      "{:.1f}%, MACs fitted {:.1f}% / {:.1f}%\n",
      path, options.threads, result["error_table_sum"]["median_pct"].get<double>(),
      result["error_table_sum"]["worst_pct"].get<double>(), result["error_table_fitted"]["median_pct"].get<double>(),
      result["error_table_fitted"]["worst_pct"].get<double>(), result["error_macs_fitted"]["median_pct"].get<double>(),
      result["error_macs_fitted"]["worst_pct"].get<double>());
  if (!out.empty()) std::ofstream(out) << result.dump(2) << "\n";
  return 0;
}
