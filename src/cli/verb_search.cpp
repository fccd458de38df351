#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/search.hpp"

namespace dyndnn::cli {
namespace {

std::vector<int> intList(const std::string& text, const char* option) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      out.push_back(std::stoi(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InvalidArgument(fmt::format("{} {}: expected comma-separated integers, e.g. 1,2", option, text));
    }
  }
  return out;
}

// One status line redrawn on a terminal; the messages (what each step found) as lines above it, or alone in a log.
class SearchDisplay {
 public:
  explicit SearchDisplay(bool quiet) : tty_(!quiet && isatty(STDERR_FILENO)), quiet_(quiet) {}
  void operator()(const SearchProgress& p) {
    if (quiet_) return;
    if (!p.message.empty()) {
      if (tty_) fmt::print(stderr, "\r\033[K");
      fmt::print(stderr, "{}\n", p.message);
    }
    if (!tty_ || p.phase.empty()) return;
    std::string bar;
    if (p.total > 0) {
      const int filled = static_cast<int>(30.0 * p.done / p.total);
      bar = fmt::format("[{:<30}] {}/{}", std::string(static_cast<std::size_t>(filled), '#'), p.done, p.total);
    } else if (p.done > 0) {
      bar = fmt::format("{} done", p.done);
    }
    fmt::print(stderr, "\r\033[K{} {}  {:.0f} s of the budget left", p.phase, bar, std::max(0.0, p.seconds_left));
    std::fflush(stderr);
  }
  void done() {
    if (tty_) fmt::print(stderr, "\r\033[K");
  }

 private:
  bool tty_, quiet_;
};

std::string plot(const std::string& candidates_json, const std::string& png) {
  const std::string cmd = fmt::format("'{}' '{}' '{}' '{}'", DYNDNN_PYTHON_EXECUTABLE, DYNDNN_PLOT_SEARCH_SCRIPT,
                                      candidates_json, png);
  if (std::system(cmd.c_str()) != 0)
    throw Error(fmt::format("--plot {}: the plot script failed (it needs matplotlib: apt-get install "
                            "python3-matplotlib); the search results are in {}; plot them later with {} {} {} {}",
                            png, candidates_json, DYNDNN_PYTHON_EXECUTABLE, DYNDNN_PLOT_SEARCH_SCRIPT, candidates_json, png));
  return png;
}

}  // namespace

int runSearch(const std::vector<std::string>& argv) {
  Command cmd("search", "FILE --data DIR --out OUT.dyn [options]",
              "Find operating points for this device and data: sub-networks of the supernet in FILE are sampled, "
              "BN-recalibrated, screened for top-1 and timed through a per-layer latency table measured here, evolved "
              "on the accuracy/latency front within --budget-minutes, and the best --points along the front, "
              "evaluated in full and timed whole, are written to OUT.dyn (same shared weights, own BN statistics per "
              "point, the latency table). Every evaluated sub-network goes to OUT.dyn.candidates.json. The state is "
              "kept in OUT.dyn.search.json after every step: run the same command again to resume an interrupted "
              "search. DIR is an image folder (DIR/<class>/<image>.jpg|png, labels the sorted class names) or an IDX "
              "folder (t10k-* evaluated, train-* calibrates).");
  std::string file, out, threads = "1", resolutions, png;
  SearchOptions o;
  bool json = false, restart = false;
  cmd.addFile(file);
  cmd->add_option("--data", o.data, "evaluation images: an image folder or an IDX folder")->type_name("DIR")->required();
  cmd->add_option("--out", out, "the package to write")->type_name("OUT.dyn")->required();
  cmd->add_option("--calibration-data", o.calibration_data,
                  "calibration images (default: the IDX train split, else images drawn from --data)")
      ->type_name("DIR");
  cmd->add_option("--calibration-images", o.calibration_images, "images BN is recalibrated on (default 2000)")->type_name("N");
  cmd->add_option("--screen-calibration-images", o.screen_calibration_images,
                  "of those, the ones screening recalibrates on (default 500)")
      ->type_name("N");
  cmd->add_option("--screen-images", o.screen_images, "images of the first, cheap top-1 (default 2000)")->type_name("N");
  cmd->add_option("--evaluation-images", o.evaluation_images, "images of the full top-1 near the front (default: all)")
      ->type_name("N");
  cmd->add_option("--points", o.points, "operating points to keep (default 8)")->type_name("N");
  cmd->add_option("--budget-minutes", o.budget_minutes, "wall-clock time of the whole search (default 10)")->type_name("MIN");
  cmd->add_option("--max-candidates", o.max_candidates, "stop screening after N sub-networks")->type_name("N");
  cmd->add_option("--threads", threads, "latency tables for these thread counts; the front uses the first (default 1)")
      ->type_name("T[,T...]");
  cmd->add_option("--eval-threads", o.eval_threads, "threads of calibration and evaluation (default: all cores)")->type_name("N");
  cmd->add_option("--resolutions", resolutions, "resolutions to search (default: the package's)")->type_name("R[,R...]");
  cmd->add_option("--seed", o.seed, "of the image subsets and the search (default 0)")->type_name("S");
  cmd->add_option("--plot", png, "draw the front to this PNG (matplotlib)")->type_name("PNG");
  cmd->add_flag("--restart", restart, "ignore OUT.dyn.search.json and start over");
  cmd.addBackend(o.backend);
  cmd.addJson(json);
  if (!cmd.parse(argv)) return 0;
  o.threads = intList(threads, "--threads");
  if (!resolutions.empty()) o.resolutions = intList(resolutions, "--resolutions");
  o.resume = !restart;

  SearchDisplay display(json);
  const auto report = searchOperatingPoints(file, out, o, std::ref(display));
  display.done();
  const std::string plotted = png.empty() ? "" : plot(report.candidates_json, png);
  if (json) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : report.points)
      points.push_back({{"name", p.name}, {"config", nlohmann::json::parse(p.config)}, {"accuracy", p.accuracy},
                        {"macs", p.macs}, {"latency_ms", p.latency_ms}, {"predicted_latency_ms", p.predicted_latency_ms}});
    fmt::print("{}\n", nlohmann::json{{"package", report.package}, {"candidates_json", report.candidates_json},
                                      {"state", report.state}, {"plot", plotted}, {"candidates", report.candidates},
                                      {"fully_evaluated", report.fully_evaluated}, {"resumed", report.resumed},
                                      {"seconds", report.seconds}, {"table_entries", report.table_entries},
                                      {"table_error_pct", {{"median", report.table_error_median_pct},
                                                           {"worst", report.table_error_worst_pct},
                                                           {"corrected_median", report.corrected_error_median_pct},
                                                           {"corrected_worst", report.corrected_error_worst_pct}}},
                                      {"operating_points", points}}
                           .dump(2));
    return 0;
  }
  fmt::print("{}: {} operating points from {} sub-networks screened ({} evaluated in full) in {:.0f} s{}\n",
             report.package, report.points.size(), report.candidates, report.fully_evaluated, report.seconds,
             report.resumed ? " (resumed)" : "");
  fmt::print("  latency table: {} layers; held-out sub-networks |predicted/measured - 1|: median {:.1f}%, worst "
             "{:.1f}% (after the linear correction fitted near the front: {:.1f}%, {:.1f}%)\n",
             report.table_entries, report.table_error_median_pct, report.table_error_worst_pct,
             report.corrected_error_median_pct, report.corrected_error_worst_pct);
  fmt::print("  {:<8} {:>8} {:>8} {:>10} {:>10}  config\n", "name", "MMACs", "top-1", "latency", "predicted");
  for (const auto& p : report.points)
    fmt::print("  {:<8} {:>8.1f} {:>7.2f}% {:>7.3f} ms {:>7.3f} ms  {}\n", p.name, p.macs / 1e6, p.accuracy,
               p.latency_ms, p.predicted_latency_ms, SubnetConfig::fromJson(p.config).summary());
  fmt::print("  all candidates: {}{}\n", report.candidates_json, plotted.empty() ? "" : "; plot: " + plotted);
  return 0;
}

}  // namespace dyndnn::cli
