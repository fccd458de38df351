#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"
#include "synthetic.hpp"

using namespace dyndnn::runtime;

TEST_CASE("profile: JSON round trip and lookups") {
  Profile p = test::syntheticProfile();
  const Profile q = Profile::fromJson(p.toJson());
  REQUIRE(q.entries.size() == p.entries.size());
  CHECK(q.entries[4].op == p.entries[4].op);
  CHECK(q.entries[4].hw == p.entries[4].hw);
  CHECK(q.entries[4].latency_ms == p.entries[4].latency_ms);
  CHECK(q.find("large", {{"freq", 1}}) == 2);
  CHECK(q.find("large", {{"freq", 3}}) == -1);
  CHECK(q.operatingPoints() == std::vector<std::string>{"small", "medium", "large"});
  CHECK(q.hardwareStates().size() == 2);
  const std::string path = "runtime_profile_test.json";
  p.save(path);
  CHECK(Profile::load(path).entries.size() == 6);
  std::remove(path.c_str());
}

TEST_CASE("profile: malformed files are InvalidArgument naming the problem, missing files IoError") {
  CHECK_THROWS_AS(Profile::fromJson("not json"), dyndnn::InvalidArgument);
  CHECK_THROWS_WITH(Profile::fromJson(R"({"format":"other"})"), Catch::Contains("dyndnn-profile"));
  CHECK_THROWS_WITH(Profile::fromJson(R"({"format":"dyndnn-profile","version":1,"entries":[{"op":"a","hw":{},"latency_ms":-1}]})"),
                    Catch::Contains("entry 0"));
  CHECK_THROWS_WITH(Profile::fromJson(R"({"format":"dyndnn-profile","version":1,"entries":[]})"), Catch::Contains("no entries"));
  CHECK_THROWS_AS(Profile::load("/nonexistent/dir/p.json"), dyndnn::IoError);
}

namespace {
// Ground truth: t = 0.4 + macs/1e6 * (0.01 + 0.05 * fmax / f), threads 1; half-speed for threads 2 plus 0.2 ms.
std::vector<ProfileEntry> groundTruth() {
  std::vector<ProfileEntry> out;
  const double macs[] = {20e6, 45e6, 80e6, 130e6, 200e6};
  const std::int64_t freqs[] = {500, 800, 1000, 1400, 2000};
  for (int threads = 1; threads <= 2; ++threads)
    for (double m : macs)
      for (auto f : freqs) {
        ProfileEntry e;
        e.op = "op" + std::to_string(static_cast<int>(m / 1e6));
        e.macs = m;
        e.hw = {{"freq", f}, {"threads", threads}};
        const double t1 = 0.4 + m / 1e6 * (0.01 + 0.05 * 2000.0 / static_cast<double>(f));
        e.latency_ms = threads == 1 ? t1 : t1 / 2 + 0.2;
        out.push_back(e);
      }
  return out;
}
}  // namespace

TEST_CASE("predictor: least squares recovers latency from MACs and frequency; held-out error is reported") {
  auto all = groundTruth();
  std::vector<ProfileEntry> train, held;
  for (std::size_t i = 0; i < all.size(); ++i) (i % 3 == 0 ? held : train).push_back(all[i]);
  const auto q = LatencyPredictor::evaluate(train, held, "freq");
  CHECK(q.train == train.size());
  CHECK(q.held_out == held.size());
  CHECK(q.mean_abs_pct_error < 0.5);
  // Without the frequency feature the same data cannot be explained: the reported error must show it.
  auto flat = all;
  for (auto& e : flat) e.hw.erase("freq");
  std::vector<ProfileEntry> ftrain, fheld;
  for (std::size_t i = 0; i < flat.size(); ++i) (i % 3 == 0 ? fheld : ftrain).push_back(flat[i]);
  CHECK(LatencyPredictor::evaluate(ftrain, fheld, "").mean_abs_pct_error > 10);
}

TEST_CASE("predictor: fills a sparse profile with predicted entries") {
  Profile p;
  for (const auto& e : groundTruth())
    if (e.hw.at("freq") == 2000 || e.hw.at("freq") == 500 || e.op == "op45") p.entries.push_back(e);
  const std::size_t measured = p.entries.size();
  const auto pred = LatencyPredictor::fit(p.entries, "freq");
  pred.fillMissing(p);
  CHECK(p.entries.size() == 50);
  std::size_t predicted = 0;
  for (const auto& e : p.entries) predicted += e.predicted;
  CHECK(predicted == 50 - measured);
  const int i = p.find("op130", {{"freq", 1000}, {"threads", 2}});
  REQUIRE(i >= 0);
  CHECK(p.entries[i].predicted);
  const double truth = (0.4 + 130 * (0.01 + 0.05 * 2.0)) / 2 + 0.2;
  CHECK(p.entries[i].latency_ms == Approx(truth).epsilon(0.01));
  CHECK_THROWS_AS(LatencyPredictor::fit({groundTruth().front()}, "freq"), dyndnn::InvalidArgument);
}
