// dyndnn.search(): the `dyndnn search` verb as a function. The search runs with the GIL released; progress
// reaches a Python callable on the calling thread, which also lets Ctrl-C stop the search between steps (the
// state file is written after every step, so the same call resumes it).

#include "search_bindings.hpp"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "dyndnn/error.hpp"
#include "dyndnn/search.hpp"

namespace py = pybind11;

namespace dyndnn::python {
namespace {

py::dict reportToPython(const SearchReport& r) {
  py::list points;
  for (const auto& p : r.points) {
    py::dict d;
    d["name"] = p.name;
    d["config"] = py::module_::import("json").attr("loads")(p.config);
    d["accuracy"] = p.accuracy;
    d["macs"] = p.macs;
    d["latency_ms"] = p.latency_ms;
    d["predicted_latency_ms"] = p.predicted_latency_ms;
    points.append(d);
  }
  py::dict table;
  table["median"] = r.table_error_median_pct;
  table["worst"] = r.table_error_worst_pct;
  table["corrected_median"] = r.corrected_error_median_pct;
  table["corrected_worst"] = r.corrected_error_worst_pct;
  py::dict d;
  d["package"] = r.package;
  d["candidates_json"] = r.candidates_json;
  d["state"] = r.state;
  d["candidates"] = r.candidates;
  d["fully_evaluated"] = r.fully_evaluated;
  d["resumed"] = r.resumed;
  d["seconds"] = r.seconds;
  d["table_entries"] = r.table_entries;
  d["table_error_pct"] = table;
  d["operating_points"] = points;
  return d;
}

}  // namespace

void bindSearch(py::module_& mod) {
  mod.def(
      "search",
      [](const std::string& package, const std::string& out, const std::string& data, int points,
         double budget_minutes, int max_candidates, std::vector<int> threads, const std::string& calibration_data,
         int calibration_images, int screen_calibration_images, int screen_images, int evaluation_images,
         const std::string& backend, std::vector<int> resolutions, std::uint32_t seed, int eval_threads, bool resume,
         const py::object& progress) {
        SearchOptions o;
        o.data = data;
        o.points = points;
        o.budget_minutes = budget_minutes;
        o.max_candidates = max_candidates;
        o.threads = std::move(threads);
        o.calibration_data = calibration_data;
        o.calibration_images = calibration_images;
        o.screen_calibration_images = screen_calibration_images;
        o.screen_images = screen_images;
        o.evaluation_images = evaluation_images;
        o.backend = backend;
        o.resolutions = std::move(resolutions);
        o.seed = seed;
        o.eval_threads = eval_threads;
        o.resume = resume;
        if (!progress.is_none() && !PyCallable_Check(progress.ptr()))
          throw InvalidArgument("search: progress must be a callable taking one dict, or None");
        // Every step reports here, so Ctrl-C (a pending signal) stops the search even without a callback.
        auto report = [&progress](const SearchProgress& p) {
          py::gil_scoped_acquire gil;
          if (PyErr_CheckSignals() != 0) throw py::error_already_set();
          if (progress.is_none()) return;
          py::dict d;
          d["phase"] = p.phase;
          d["done"] = p.done;
          d["total"] = p.total;
          d["seconds_left"] = p.seconds_left;
          d["message"] = p.message;
          progress(d);
        };
        SearchReport r;
        {
          py::gil_scoped_release release;
          r = searchOperatingPoints(package, out, o, report);
        }
        return reportToPython(r);
      },
      py::arg("package"), py::arg("out"), py::kw_only(), py::arg("data"), py::arg("points") = 8,
      py::arg("budget_minutes") = 10.0, py::arg("max_candidates") = 0, py::arg("threads") = std::vector<int>{1},
      py::arg("calibration_data") = "", py::arg("calibration_images") = 2000,
      py::arg("screen_calibration_images") = 500, py::arg("screen_images") = 2000, py::arg("evaluation_images") = 0,
      py::arg("backend") = "auto", py::arg("resolutions") = std::vector<int>{}, py::arg("seed") = 0,
      py::arg("eval_threads") = 0, py::arg("resume") = true, py::arg("progress") = py::none(),
      R"(Operating points for a supernet package on this device and the caller's data, as `dyndnn search` finds
them: a latency lookup table measured here, BN statistics recalibrated per candidate, random sampling and
evolution within budget_minutes (or max_candidates), a full evaluation near the front. Writes `out` (a package of
`points` operating points with their statistics, metrics and the lookup table), OUT.candidates.json and the
resumable OUT.search.json; a second call with the same arguments continues an interrupted search. `data`: an
image folder (DIR/<class>/<image>) or an IDX folder. `progress`, when given, is called with a dict (phase, done,
total, seconds_left, message) after every step. Returns the report as a dict (the CLI's --json).)");
}

}  // namespace dyndnn::python
