#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"

using namespace dyndnn::runtime;

TEST_CASE("target: invalid values are InvalidArgument naming the field") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto fails = [](Target t, const char* field) {
    try {
      t.validate();
    } catch (const dyndnn::InvalidArgument& e) {
      CHECK(std::string(e.what()).find(field) != std::string::npos);
      return true;
    }
    return false;
  };
  Target t;
  t.latency_ms = nan;
  CHECK(fails(t, "latency_ms"));
  t.latency_ms = -1;
  CHECK(fails(t, "latency_ms"));
  t = {};
  t.fps = 0;
  CHECK(fails(t, "fps"));
  t = {};
  t.power_w = -3;
  CHECK(fails(t, "power_w"));
  t = {};
  t.min_accuracy = 101;
  CHECK(fails(t, "min_accuracy"));
  t = {};
  t.latency_ms = 10;
  t.fps = 30;
  CHECK(fails(t, "fps"));
  t = {};
  t.confidence = 1.0;
  CHECK(fails(t, "confidence"));
  t = {};
  t.fps = 25;
  t.min_accuracy = 80;
  t.power_w = 5;
  CHECK_NOTHROW(t.validate());
  CHECK(*t.budgetMs() == Approx(40));
  CHECK_NOTHROW(Target{}.validate());  // empty target: no constraint
}

TEST_CASE("estimator: converges to a constant slowdown with shrinking uncertainty") {
  SlowdownEstimator est;
  const double v0 = est.variance();
  for (int i = 0; i < 50; ++i) est.observe(15.0 * (1 + 0.02 * ((i % 3) - 1)), 10.0, 0.2);
  CHECK(est.mean() == Approx(1.5).epsilon(0.03));
  CHECK(est.variance() > 0);
  CHECK(est.variance() < v0 + 0.01);
}

TEST_CASE("estimator: a step change is absorbed within two frames, a single spike is not followed") {
  SlowdownEstimator est;
  for (int i = 0; i < 30; ++i) est.observe(10.0, 10.0, 0.2);
  CHECK(est.mean() == Approx(1.0).epsilon(0.01));
  est.observe(30.0, 10.0, 0.2);  // one spike
  CHECK(est.mean() < 1.2);
  for (int i = 0; i < 5; ++i) est.observe(10.0, 10.0, 0.2);
  CHECK(est.mean() == Approx(1.0).epsilon(0.05));
  const auto jumps = est.jumps();
  est.observe(20.0, 10.0, 0.2);  // contention: latency doubles and stays
  est.observe(20.0, 10.0, 0.2);
  CHECK(est.jumps() == jumps + 1);
  CHECK(est.mean() == Approx(2.0).epsilon(0.05));
  est.observe(10.0, 10.0, 0.2);  // and goes away
  est.observe(10.0, 10.0, 0.2);
  est.observe(10.0, 10.0, 0.2);
  CHECK(est.mean() == Approx(1.0).epsilon(0.1));
}

TEST_CASE("estimator: invalid observations are ignored") {
  SlowdownEstimator est;
  CHECK_FALSE(est.observe(std::nan(""), 10, 1));
  CHECK_FALSE(est.observe(10, 0, 1));
  CHECK_FALSE(est.observe(-1, 10, 1));
  CHECK(est.observations() == 0);
  CHECK(est.mean() == 1.0);
}
