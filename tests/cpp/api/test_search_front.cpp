// The search's bookkeeping (api/search_front): the front, the points near it, the N kept along it, and OFA-style
// mutation and crossover, on hand-made candidates and the shipped supernet's search space.

#include <catch2/catch.hpp>

#include <random>

#include "api/search_front.hpp"
#include "fixtures.hpp"
#include "format/package.hpp"

using dyndnn::search::Candidate;

namespace {
Candidate make(double ms, double screen, std::optional<double> full = {}) {
  Candidate c;
  c.predicted_ms = {ms};
  c.screen_accuracy = screen;
  c.accuracy = full;
  if (full) c.measured_ms = ms * 1.5;  // measured differs from predicted: ranking must use it
  return c;
}
}  // namespace

TEST_CASE("the front keeps what nothing faster beats, near-front ranks by margin, N spread in latency", "[search]") {
  std::vector<Candidate> all = {make(1.0, 80), make(2.0, 79), make(2.0, 85), make(3.0, 84.5), make(4.0, 90),
                                make(5.0, 89), make(8.0, 91)};
  CHECK(dyndnn::search::paretoFront(all, false) == std::vector<std::size_t>{0, 2, 4, 6});
  // 84.5 at 3 ms is 0.5 below the front (85 at 2 ms): near within 0.6, not within 0.4.
  const auto near = dyndnn::search::nearFront(all, false, 0.6);
  CHECK(near.size() == 5);
  CHECK(std::find(near.begin(), near.end(), 3) != near.end());
  const auto tight = dyndnn::search::nearFront(all, false, 0.4);
  CHECK(std::find(tight.begin(), tight.end(), 3) == tight.end());
  const auto two = dyndnn::search::chooseAlong(all, dyndnn::search::paretoFront(all, false), 2);
  CHECK(two == std::vector<std::size_t>{0, 6});  // the fastest and the most accurate
  CHECK(dyndnn::search::chooseAlong(all, {0, 2}, 5).size() == 2);
}

TEST_CASE("the points kept along the front lose the least accuracy where one was left out", "[search]") {
  // 83 at 1.06 ms is 3 points above the fastest for 6% more time: evenly spaced in latency it would go.
  std::vector<Candidate> all = {make(1.0, 80), make(1.06, 83), make(1.5, 84), make(2.0, 84.5), make(4.0, 85)};
  const std::vector<std::size_t> front = {0, 1, 2, 3, 4};
  CHECK(dyndnn::search::chooseAlong(all, front, 3) == std::vector<std::size_t>{0, 1, 4});  // worst loss 1 (at 1.5)
  CHECK(dyndnn::search::chooseAlong(all, front, 4) == std::vector<std::size_t>{0, 1, 2, 4});
  CHECK(dyndnn::search::chooseAlong(all, front, 5) == front);
}

TEST_CASE("near the front, twins (same latency and accuracy) count once", "[search]") {
  std::vector<Candidate> all = {make(1.0, 80), make(1.0, 80), make(1.0, 80), make(2.0, 85), make(2.0, 84.9)};
  const auto near = dyndnn::search::nearFront(all, false, 1.0);
  CHECK(near == std::vector<std::size_t>{0, 3, 4});  // the twins of 0 dropped; 84.9 at 2 ms is not a twin
}

TEST_CASE("the full ranking uses measured latency and full accuracy where a candidate has them", "[search]") {
  std::vector<Candidate> all = {make(1.0, 90, 70.0), make(1.2, 80)};
  // Measured 1.5 ms and 70% fully: the second (1.2 ms predicted, 80% screened) is faster and better.
  CHECK(dyndnn::search::latency(all[0]) == 1.5);
  CHECK(dyndnn::search::paretoFront(all, true) == std::vector<std::size_t>{1});
  CHECK(dyndnn::search::paretoFront(all, false) == std::vector<std::size_t>{1, 0});
}

TEST_CASE("mutation and crossover stay in the search space and draw from their parents", "[search]") {
  auto package = dyndnn::format::Package::open(dyndnn::test::sourceFile("models/fmnist_ofa_mbv3.dyn"));
  const auto net = dyndnn::nn::openSupernet(package);
  std::mt19937 rng(3);
  const std::vector<int> res = {24, 28};
  const auto a = dyndnn::nn::randomConfig(*net, res, rng), b = dyndnn::nn::randomConfig(*net, res, rng);
  REQUIRE(a != b);
  int changed = 0;
  for (int i = 0; i < 20; ++i) {
    const auto m = dyndnn::search::mutate(*net, res, a, 0.1, rng);
    CHECK(net->normalise(m) == m);
    changed += m != a;
    const auto x = dyndnn::search::crossover(*net, a, b, rng);
    for (const auto& [knob, values] : x.knobs)
      for (std::size_t j = 0; j < values.size(); ++j)
        CHECK((values[j] == a.knobs.at(knob)[j] || values[j] == b.knobs.at(knob)[j]));
    CHECK((x.r == a.r || x.r == b.r));
  }
  CHECK(changed >= 15);  // 0.1 per entry over ~45 entries: nearly always a change
  CHECK(dyndnn::search::mutate(*net, res, a, 0.0, rng) == a);
}
