#pragma once
/// \file search.hpp
/// Operating points for the user's own supernet, data and device (`dyndnn search`): Dynamic-OFA's offline step,
/// run on the device itself. Sub-networks are sampled from a package's supernet, each recalibrated (batch-norm
/// statistics on calibration images, as OFA does) and screened for top-1 on a subset of the evaluation images;
/// latency comes from a per-layer lookup table measured by the engine on this machine. Evolution on the
/// screened accuracy / latency front runs until the time budget is spent; the candidates near the front are then
/// evaluated on all evaluation images and timed whole, and the best N along the front are written as a package:
/// the same shared weights, N operating points each with its own BN statistics, accuracy, MACs and measured
/// latency, and the lookup table. Every evaluated sub-network goes to OUT.candidates.json; the run's state is
/// kept in OUT.search.json after every candidate, so an interrupted search resumes where it stopped.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dyndnn {

struct SearchOptions {
  /// Evaluation images: an image folder (DIR/<class>/<image>) or an IDX folder (its t10k split).
  std::string data;
  /// Calibration images: another folder; empty: the IDX folder's train split when it has one, else images drawn
  /// (with the seed) from `data` and kept out of its evaluation.
  std::string calibration_data;
  int calibration_images = 2000;  ///< OFA recalibrates on 2,000 images (the points kept, the full evaluation)
  int screen_calibration_images = 500;  ///< of those, the ones screening recalibrates on
  int screen_images = 2000;       ///< evaluation images of the cheap first pass
  int evaluation_images = 0;      ///< of the full evaluation near the front; 0: all of them
  int points = 8;                 ///< operating points in the output
  double budget_minutes = 10;     ///< wall-clock time of the whole search (a resumed run adds what it had)
  int max_candidates = 0;         ///< stop sampling after this many sub-networks (0: the budget decides)
  std::vector<int> threads = {1}; ///< latency tables for these thread counts; the front uses the first
  std::string backend = "auto";   ///< as ModelOptions::backend (CPU)
  std::vector<int> resolutions;   ///< input resolutions to search; empty: the package's
  std::uint32_t seed = 0;
  int eval_threads = 0;           ///< threads of calibration and evaluation; 0: all cores
  bool resume = true;             ///< continue OUT.search.json when it belongs to this search
};

/// What the search reports while it runs: the phase ("latency table", "validation", "screening", "full
/// evaluation", "timing", "writing"), work done / total in the phase (total 0 when open-ended), seconds left of the budget.
struct SearchProgress {
  std::string phase;
  long done = 0, total = 0;
  double seconds_left = 0;
  std::string message;  ///< one line on what just happened, or empty
};

struct SearchPoint {
  std::string name, config;  ///< config as JSON
  double accuracy = 0;       ///< top-1 (%) on the full evaluation
  std::int64_t macs = 0;
  double latency_ms = 0;          ///< measured whole, at threads.front()
  double predicted_latency_ms = 0;  ///< the lookup table's prediction
};

struct SearchReport {
  std::string package, candidates_json, state;  ///< the files written
  int candidates = 0;       ///< sub-networks screened
  int fully_evaluated = 0;  ///< of which evaluated on all evaluation images
  bool resumed = false;
  double seconds = 0;       ///< wall-clock time of the search, all runs of it
  int table_entries = 0;
  /// The lookup table against whole-network measurements of held-out random sub-networks, |pred/meas - 1| in %:
  /// the raw sum and after the linear correction fitted on the near-front measurements.
  double table_error_median_pct = 0, table_error_worst_pct = 0;
  double corrected_error_median_pct = 0, corrected_error_worst_pct = 0;
  std::vector<SearchPoint> points;
};

/// Searches `package` and writes `out` (a .dyn package), OUT.candidates.json and OUT.search.json. Throws
/// InvalidArgument (a package without elastic knobs, data that does not fit the model, bad options) or IoError,
/// each naming the file and what to do. `progress` is called from the calling thread.
SearchReport searchOperatingPoints(const std::string& package, const std::string& out, const SearchOptions& options,
                                   const std::function<void(const SearchProgress&)>& progress = {});

}  // namespace dyndnn
