// dyndnn search: the phases of dyndnn/search.hpp, each saving the state when it makes progress.

#include "dyndnn/search.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "api/search_data.hpp"
#include "api/search_front.hpp"
#include "api/search_output.hpp"
#include "api/search_state.hpp"
#include "dyndnn/error.hpp"
#include "engine/latency_table.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

namespace dyndnn {
namespace {

using nlohmann::json;
using search::Candidate;
using Clock = std::chrono::steady_clock;

constexpr int kValidationSamples = 10;  // held-out random sub-networks timed whole to check the table
constexpr double kScreenTolerance = 1.0;  // points below the screened front still parents / fully evaluated
constexpr double kMutationProbability = 0.1;  // OFA's evolutionary search
constexpr int kQuietRounds = 3;  // rounds of the final whole-network timing (the median of rounds is kept)

void validate(const std::string& package, const std::string& out, const SearchOptions& o) {
  if (o.data.empty()) throw InvalidArgument("search: --data is required (an image folder or an IDX folder)");
  if (out.empty()) throw InvalidArgument("search: --out is required (the package to write)");
  std::error_code ec;
  if (std::filesystem::equivalent(package, out, ec))
    throw InvalidArgument(fmt::format("search: --out {} is the package being searched; write another file", out));
  if (o.points < 1) throw InvalidArgument("search: --points must be at least 1");
  if (!(o.budget_minutes > 0)) throw InvalidArgument("search: --budget-minutes must be positive");
  if (o.threads.empty()) throw InvalidArgument("search: --threads needs at least one thread count");
  for (int t : o.threads)
    if (t < 1) throw InvalidArgument(fmt::format("search: --threads {}: thread counts are at least 1", t));
}

class Search {
 public:
  Search(const std::string& package_path, const std::string& out, const SearchOptions& o,
         const std::function<void(const SearchProgress&)>& progress)
      : out_(out), o_(o), progress_(progress), package_(format::Package::open(package_path)),
        net_(nn::openSupernet(package_)), backend_(engine::backendNamed(o.backend)) {
    if (net_->searchSpace().empty())
      throw InvalidArgument(fmt::format("{}: a '{}' package holds one fixed sub-network, no supernet to search; "
                                        "search the supernet package it was exported from",
                                        package_path, package_.family));
    resolutions_ = o.resolutions.empty() ? package_.input.resolutions : o.resolutions;
    for (int r : resolutions_) {
      SubnetConfig c = net_->largest();
      c.r = r;
      net_->normalise(c);  // throws naming the resolution and the package's
    }
    for (int t : o.threads) tables_.emplace_back(engine::LatencyTableOptions{backend_, t, 3, 15});
    state_.identity = identity(package_path);
    state_path_ = out + ".search.json";
    report_.state = state_path_;
  }

  SearchReport run() {
    at::NoGradGuard no_grad;
    resume();
    engine::useThreads(o_.eval_threads > 0 ? o_.eval_threads : static_cast<int>(std::thread::hardware_concurrency()));
    tick("loading data", 0, 0, "");
    data_ = std::make_unique<search::SearchData>(o_, package_.input, net_->numClasses());
    tick("loading data", 0, 0, data_->describe());
    measureTables();
    screen();
    evaluateNearFront();
    timeValidation(kValidationSamples);
    timeQuietly();
    return finish();
  }

 private:
  json identity(const std::string& package_path) const {
    const auto& meta = package_.file.metadata();
    auto crc = meta.find(format::kChecksumKey);
    return {{"package", std::filesystem::absolute(package_path).lexically_normal().string()},
            {"package_crc32", crc == meta.end() ? "" : crc->second},
            {"data", o_.data}, {"calibration_data", o_.calibration_data},
            {"calibration_images", o_.calibration_images},
            {"screen_calibration_images", o_.screen_calibration_images}, {"screen_images", o_.screen_images},
            {"evaluation_images", o_.evaluation_images}, {"threads", o_.threads}, {"backend", o_.backend},
            {"resolutions", resolutions_}, {"seed", o_.seed}};
  }

  void resume() {
    std::ifstream f(state_path_);
    if (!o_.resume || !f) return;
    search::SearchState saved;
    try {
      saved = search::stateFromJson(json::parse(f));
    } catch (const std::exception& e) {
      tick("resuming", 0, 0, fmt::format("{}: unreadable ({}); starting over", state_path_, e.what()));
      return;
    }
    if (saved.identity != state_.identity) {
      std::string what;
      for (const auto& [k, v] : state_.identity.items())
        if (!saved.identity.contains(k) || saved.identity[k] != v) what += (what.empty() ? "" : ", ") + k;
      tick("resuming", 0, 0, fmt::format("{} is of another search (it differs in {}); starting over", state_path_, what));
      return;
    }
    state_ = std::move(saved);
    for (std::size_t t = 0; t < tables_.size() && t < state_.tables.size(); ++t)
      for (const auto& [k, ms] : state_.tables[t]) tables_[t].insert(k, ms);
    report_.resumed = true;
    tick("resuming", 0, 0,
         fmt::format("resuming {}: {} candidates, {:.0f} s spent", state_path_, state_.candidates.size(), state_.seconds));
  }

  double elapsed() const {
    return state_.seconds + std::chrono::duration<double>(Clock::now() - start_).count();
  }
  double secondsLeft() const { return o_.budget_minutes * 60.0 - elapsed(); }

  void save() {
    search::SearchState s = state_;
    s.seconds = elapsed();
    s.tables.clear();
    for (const auto& t : tables_) s.tables.push_back(t.entries());
    search::writeJsonAtomically(state_path_, search::stateToJson(s));
  }

  void tick(const std::string& phase, long done, long total, const std::string& message) const {
    if (progress_) progress_({phase, done, total, secondsLeft(), message});
  }

  void measureTables() {
    const auto configs = nn::uniformConfigs(*net_, resolutions_);
    for (std::size_t i = static_cast<std::size_t>(state_.table_configs_done); i < configs.size(); ++i) {
      const auto g = net_->lower(configs[i]);
      for (auto& t : tables_) t.measure(g);
      state_.table_configs_done = static_cast<int>(i + 1);
      save();
      tick("latency table", static_cast<long>(i + 1), static_cast<long>(configs.size()), "");
    }
    report_.table_entries = static_cast<int>(tables_.front().size());
    tick("latency table", 0, 0,
         fmt::format("latency table: {} distinct layers from {} uniform sub-networks", tables_.front().size(), configs.size()));
  }

  // Held-out random sub-networks, predicted by the table and timed whole. Timed one after each near-front
  // candidate, so that both see the same machine (a VM's speed drifts over minutes) and the correction fitted on
  // the candidates is judged fairly on these.
  void timeValidation(std::size_t upto) {
    std::mt19937 rng(o_.seed ^ 0x5eedu);
    for (std::size_t i = 0; i < std::min<std::size_t>(upto, kValidationSamples); ++i) {
      const auto c = nn::randomConfig(*net_, resolutions_, rng);  // drawn even when timed: same sample on resume
      if (i < state_.validation.size()) continue;
      const auto g = net_->lower(c);
      const auto t0 = Clock::now();
      state_.validation.push_back({c.toJson(), net_->cost(c).macs, tables_.front().predict(g), tables_.front().measureWhole(g)});
      timing_s_.add(std::chrono::duration<double>(Clock::now() - t0).count());
      save();
      tick("validation", static_cast<long>(i + 1), kValidationSamples, "");
    }
  }

  // Whole-network timings taken one at a time between the full evaluations (minutes apart, after evaluations on
  // every core) vary by up to 2x for one network on a VM, so the table's error read from them was mostly that
  // drift. At the end, every fully evaluated candidate and every held-out network is timed again in one phase with
  // nothing else running: in rounds that interleave them (a slow minute slows all alike), the median of rounds
  // kept. These are the latencies the kept points carry and the table is judged and corrected against.
  void timeQuietly() {
    std::vector<std::pair<SubnetConfig, double*>> todo;
    for (auto& c : state_.candidates)
      if (c.accuracy && c.measured_ms) todo.emplace_back(c.config, &*c.measured_ms);
    for (auto& v : state_.validation) todo.emplace_back(SubnetConfig::fromJson(v.config), &v.measured_ms);
    if (todo.empty()) return;
    std::vector<std::vector<double>> rounds(todo.size());
    const long total = static_cast<long>(todo.size()) * kQuietRounds;
    for (int round = 0; round < kQuietRounds; ++round)
      for (std::size_t i = 0; i < todo.size(); ++i) {
        rounds[i].push_back(tables_.front().measureWhole(net_->lower(todo[i].first)));
        tick("timing", static_cast<long>(round * todo.size() + i + 1), total, "");
      }
    for (std::size_t i = 0; i < todo.size(); ++i) {
      std::nth_element(rounds[i].begin(), rounds[i].begin() + kQuietRounds / 2, rounds[i].end());
      *todo[i].second = rounds[i][kQuietRounds / 2];
    }
    save();
    tick("timing", total, total,
         fmt::format("timed {} networks again in {} interleaved rounds", todo.size(), kQuietRounds));
  }

  Candidate evaluate(const SubnetConfig& config, const std::string& origin, bool full) {
    Candidate c;
    c.config = config;
    c.key = config.toJson();
    const auto cost = net_->cost(config);
    c.macs = cost.macs;
    c.params = cost.params;
    const auto g = net_->lower(config);
    for (const auto& t : tables_) c.predicted_ms.push_back(t.predict(g));
    const auto t0 = Clock::now();
    // Screening recalibrates on the first screen_calibration_images (BN statistics from 500 images rank
    // sub-networks as those from 2,000 do, at a quarter of the cost); the full evaluation on all of them.
    const auto images = full ? 0 : static_cast<std::size_t>(o_.screen_calibration_images);
    const auto calibrated = net_->hasPointStatistics()
                                ? engine::withBatchNormStats(g, data_->calibrate(g, config.r, images))
                                : g;
    const auto plan = engine::compile(calibrated, at::kCPU, backend_);
    const auto t1 = Clock::now();
    if (full) {
      c.accuracy = data_->accuracy(*plan, config.r, true);
    } else {
      c.screen_accuracy = data_->accuracy(*plan, config.r, false);
      calibrate_s_.add(std::chrono::duration<double>(t1 - t0).count());
      screen_s_.add(std::chrono::duration<double>(Clock::now() - t1).count());
    }
    c.origin = origin;
    return c;
  }

  // The smallest and the largest sub-network at each resolution: they anchor both ends of the front.
  std::vector<SubnetConfig> anchors() const {
    std::vector<SubnetConfig> out;
    for (int r : resolutions_)
      for (bool largest : {false, true}) {
        SubnetConfig c;
        for (const auto& k : net_->searchSpace())
          c.knobs[k.name] = std::vector<int>(static_cast<std::size_t>(k.count), largest ? k.choices.back() : k.choices.front());
        c.r = r;
        out.push_back(net_->normalise(c));
      }
    return out;
  }

  // The next sub-network to screen: the anchors, random ones, then OFA-style evolution from the near-front parents.
  std::pair<SubnetConfig, std::string> propose(const std::set<std::string>& seen) const {
    for (const auto& a : anchors())
      if (!seen.count(a.toJson())) return {a, "anchor"};
    std::mt19937 rng(o_.seed * 2654435761u + static_cast<std::uint32_t>(state_.candidates.size()));
    const std::size_t random_first = anchors().size() + static_cast<std::size_t>(std::max(16, 2 * o_.points));
    const auto& all = state_.candidates;
    for (int attempt = 0; attempt < 50; ++attempt) {
      SubnetConfig c;
      std::string origin;
      if (all.size() < random_first) {
        c = nn::randomConfig(*net_, resolutions_, rng);
        origin = "random";
      } else {
        auto parents = search::nearFront(all, false, kScreenTolerance);
        parents.resize(std::min<std::size_t>(parents.size(), static_cast<std::size_t>(std::max(16, 3 * o_.points))));
        auto pick = [&]() -> const SubnetConfig& {
          return all[parents[std::uniform_int_distribution<std::size_t>(0, parents.size() - 1)(rng)]].config;
        };
        if (std::bernoulli_distribution(0.5)(rng)) {
          c = search::mutate(*net_, resolutions_, pick(), kMutationProbability, rng);
          origin = "mutation";
        } else {
          c = search::crossover(*net_, pick(), pick(), rng);
          origin = "crossover";
        }
      }
      if (!seen.count(c.toJson())) return {c, origin};
    }
    return {nn::randomConfig(*net_, resolutions_, rng), "random"};  // the neighbourhood is exhausted
  }

  // The full evaluations at the end: the near-front candidates, up to 2 N.
  std::size_t fullEvaluations() const { return fullEvaluationList().size(); }
  // The near-front candidates, best margin first, up to 2 N; and the anchors (smallest and largest at each
  // resolution) whatever their screening said: they bound the front. Screening on 2,000 images ranks networks
  // within a few tenths of each other at random, and the per-layer table orders the fastest ones (all near the
  // fixed per-call cost) at random too, so an anchor left to the margin was often missing from the front (seen:
  // the front ending 0.3 points below the largest network, or without the smallest at the middle resolution).
  std::vector<std::size_t> fullEvaluationList() const {
    auto todo = search::nearFront(state_.candidates, false, kScreenTolerance);
    todo.resize(std::min(todo.size(), static_cast<std::size_t>(2 * o_.points)));
    std::set<std::string> anchor_keys;
    for (const auto& a : anchors()) anchor_keys.insert(a.toJson());
    for (std::size_t i = 0; i < state_.candidates.size(); ++i)
      if (anchor_keys.count(state_.candidates[i].key) && std::find(todo.begin(), todo.end(), i) == todo.end())
        todo.push_back(i);
    return todo;
  }
  // Seconds they will take: a calibration, the evaluation images at the screening's rate, a whole-network timing
  // each; then the quiet phase's rounds of timings of them and of the held-out networks.
  double fullEvaluationSeconds() const {
    const double ratio = static_cast<double>(data_->evaluationCount()) / static_cast<double>(data_->screenCount());
    const double calibration = calibrate_s_.mean * o_.calibration_images / std::max(1, o_.screen_calibration_images);
    const double n = static_cast<double>(fullEvaluations());
    return n * (calibration + ratio * screen_s_.mean + timing_s_.mean) +
           (n + kValidationSamples) * kQuietRounds * timing_s_.mean;
  }

  void screen() {
    // The budget keeps time for the whole-network timings at the end; until the first of them, the largest
    // sub-network's stands in (an upper bound).
    if (timing_s_.n == 0) {
      const auto t0 = Clock::now();
      (void)tables_.front().measureWhole(net_->lower(anchors().back()));
      timing_s_.add(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::set<std::string> seen;
    for (const auto& c : state_.candidates) seen.insert(c.key);
    for (;;) {
      const auto n = state_.candidates.size();
      if (o_.max_candidates > 0 && n >= static_cast<std::size_t>(o_.max_candidates)) break;
      // Stop when one more screening would eat into the time the full evaluation needs (estimated from this
      // run's own timings; at least N sub-networks are screened whatever the budget).
      const double next = calibrate_s_.mean + screen_s_.mean;
      if (n >= static_cast<std::size_t>(o_.points) && secondsLeft() <= fullEvaluationSeconds() + next) break;
      auto [config, origin] = propose(seen);
      state_.candidates.push_back(evaluate(config, origin, false));
      seen.insert(state_.candidates.back().key);
      save();
      const auto& c = state_.candidates.back();
      tick("screening", static_cast<long>(n + 1), o_.max_candidates,
           fmt::format("{:<9} {:>7.2f} MMACs {:>6.2f}% {:>7.3f} ms  ({:.1f} s calibration, {:.1f} s screening)  {}",
                       c.origin, c.macs / 1e6, c.screen_accuracy, c.predicted_ms.front(), calibrate_s_.mean,
                       screen_s_.mean, c.config.summary()));
    }
  }

  void evaluateNearFront() {
    const auto todo = fullEvaluationList();
    for (std::size_t k = 0; k < todo.size(); ++k) {
      auto& c = state_.candidates[todo[k]];
      if (c.accuracy && c.measured_ms) continue;
      const auto full = evaluate(c.config, c.origin, true);
      c.accuracy = full.accuracy;
      const auto t0 = Clock::now();
      c.measured_ms = tables_.front().measureWhole(net_->lower(c.config));  // statistics do not change the time
      timing_s_.add(std::chrono::duration<double>(Clock::now() - t0).count());
      save();
      timeValidation(k + 1);
      tick("full evaluation", static_cast<long>(k + 1), static_cast<long>(todo.size()),
           fmt::format("{:>7.2f} MMACs screened {:>6.2f}% full {:>6.2f}% {:>7.3f} ms measured", c.macs / 1e6,
                       c.screen_accuracy, *c.accuracy, *c.measured_ms));
    }
  }

  SearchReport finish() {
    std::vector<Candidate> full;
    for (const auto& c : state_.candidates)
      if (c.accuracy && c.measured_ms) full.push_back(c);
    const auto chosen_idx = search::chooseAlong(full, search::paretoFront(full, true), o_.points);
    std::vector<Candidate> chosen;
    for (auto i : chosen_idx) chosen.push_back(full[i]);
    tick("writing", 0, 0, "");
    std::vector<search::ChosenPoint> points;
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      const auto& c = chosen[i];
      const auto g = net_->lower(c.config);
      points.push_back({fmt::format("level{}", i), c,
                        net_->hasPointStatistics() ? data_->calibrate(g, c.config.r) : engine::BatchNormStats{}});
    }
    search::TableReport table = search::tableReport(state_.validation, full);
    json selection = {{"tool", "dyndnn search"}, {"data", data_->describe()}, {"candidates", state_.candidates.size()},
                      {"fully_evaluated", full.size()}, {"seconds", elapsed()}, {"seed", o_.seed},
                      {"resolutions", resolutions_}, {"latency_table_error_pct", table.toJson()}};
    std::vector<std::pair<int, std::map<std::string, double>>> tables;
    for (const auto& t : tables_) tables.emplace_back(t.options().threads, t.entries());
    search::writeSearchPackage(out_, package_, points, selection, tables, o_.backend);

    report_.package = out_;
    report_.candidates_json = out_ + ".candidates.json";
    json rows = json::array();
    for (const auto& c : state_.candidates) rows.push_back(search::candidateToJson(c));
    json validation = json::array();
    for (const auto& v : state_.validation)
      validation.push_back({{"config", json::parse(v.config)}, {"macs", v.macs}, {"predicted_ms", v.predicted_ms},
                            {"measured_ms", v.measured_ms}});
    json chosen_json = json::array();
    for (const auto& p : points) chosen_json.push_back({{"name", p.name}, {"config", json::parse(p.candidate.key)}});
    search::writeJsonAtomically(report_.candidates_json,
                                {{"package", state_.identity["package"]}, {"selection", selection},
                                 {"threads", o_.threads}, {"candidates", rows}, {"validation", validation},
                                 {"operating_points", chosen_json}});
    save();
    report_.candidates = static_cast<int>(state_.candidates.size());
    report_.fully_evaluated = static_cast<int>(full.size());
    report_.seconds = elapsed();
    report_.table_error_median_pct = table.raw_median;
    report_.table_error_worst_pct = table.raw_worst;
    report_.corrected_error_median_pct = table.corrected_median;
    report_.corrected_error_worst_pct = table.corrected_worst;
    for (const auto& p : points)
      report_.points.push_back({p.name, p.candidate.key, *p.candidate.accuracy, p.candidate.macs,
                                *p.candidate.measured_ms, p.candidate.predicted_ms.front()});
    return report_;
  }

  struct Mean {  // running mean of a step's seconds in this run
    double mean = 0;
    int n = 0;
    void add(double s) { mean += (s - mean) / ++n; }
  };

  std::string out_, state_path_;
  Mean calibrate_s_, screen_s_, timing_s_;
  SearchOptions o_;
  std::function<void(const SearchProgress&)> progress_;
  format::Package package_;
  std::unique_ptr<nn::Supernet> net_;
  engine::Backend backend_;
  std::vector<int> resolutions_;
  std::vector<engine::LatencyTable> tables_;
  std::unique_ptr<search::SearchData> data_;
  search::SearchState state_;
  SearchReport report_;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

SearchReport searchOperatingPoints(const std::string& package, const std::string& out, const SearchOptions& options,
                                   const std::function<void(const SearchProgress&)>& progress) {
  validate(package, out, options);
  return Search(package, out, options, progress).run();
}

}  // namespace dyndnn
