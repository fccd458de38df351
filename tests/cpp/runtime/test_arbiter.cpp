// The hardware arbiter's promises that do not need a simulated platform: one policy decision per frame when a
// shared knob is raised, and all-or-nothing re-arbitration.
#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/runtime.hpp"
#include "runtime/synthetic.hpp"

using namespace dyndnn::runtime;

namespace {

// The manager's own policy, counting how often it is asked (a stateful policy advances once per call).
class CountingPolicy final : public Policy {
 public:
  explicit CountingPolicy(int& calls) : calls_(calls) {}
  std::string name() const override { return "counting"; }
  Decision decide(const PolicyContext& ctx) override {
    ++calls_;
    return inner_->decide(ctx);
  }

 private:
  int& calls_;
  std::unique_ptr<Policy> inner_ = makeManagerPolicy();
};

}  // namespace

TEST_CASE("arbiter: a raised shared knob costs the model one policy decision, not two") {
  // a's budget needs the high frequency; b alone would run at the low one. While a runs, b chooses among entries
  // at the high frequency, asking its policy once.
  const Profile p = test::syntheticProfile();
  Target ta = test::budget(12), tb = test::budget(100);  // medium at freq 2 (10 ms); anything for b
  tb.objective = Objective::LeastEnergy;
  int calls = 0;
  auto ma = std::make_shared<RuntimeManager>(p, ta);
  auto mb = std::make_shared<RuntimeManager>(p, tb, std::make_unique<CountingPolicy>(calls));
  HardwareArbiter arb;
  const int a = arb.add({"a", 1, ma, {}, ""});
  const int b = arb.add({"b", 0, mb, {}, ""});
  arb.rearbitrate();
  REQUIRE(p.entries[arb.decide(a).entry].hw.at("freq") == 2);
  const auto db = arb.decide(b);  // a is mid-frame
  CHECK(p.entries[db.entry].hw.at("freq") == 2);
  CHECK(calls == 1);
  mb->after(p.entries[db.entry].latency_ms);
  arb.done(b);
  arb.done(a);
  const auto alone = arb.decide(b);  // a idle: b's own choice, also in one call
  CHECK(calls == 2);
  CHECK(p.entries[alone.entry].hw.at("freq") == 2);  // held by hysteresis: the switch-rate limit
}

TEST_CASE("arbiter: a re-arbitration that cannot place every model changes nothing") {
  const Profile p = test::syntheticProfile();
  // Placements: the freq knob stands for a core here, occupied exclusively.
  const std::vector<HardwareState> both = {{{"freq", 1}}, {{"freq", 2}}};
  auto ma = std::make_shared<RuntimeManager>(p, test::budget(100));
  auto mb = std::make_shared<RuntimeManager>(p, test::budget(100));
  auto mc = std::make_shared<RuntimeManager>(p, test::budget(100));
  HardwareArbiter arb;
  const int a = arb.add({"a", 2, ma, {{{"freq", 1}}}, "freq"});
  const int b = arb.add({"b", 1, mb, both, "freq"});
  arb.rearbitrate();
  REQUIRE(arb.granted(a).at("freq") == 1);
  REQUIRE(arb.granted(b).at("freq") == 2);
  // c outranks both and takes 2; b, last, finds nothing free.
  const int c = arb.add({"c", 3, mc, {{{"freq", 2}}}, "freq"});
  CHECK_THROWS_WITH(arb.rearbitrate(), Catch::Contains("no free placement for 'b'"));
  CHECK(arb.granted(c).empty());  // nothing was granted to c
  CHECK(arb.granted(b).at("freq") == 2);
  // b's manager still decides within its old grant (c's failed arbitration restricted no one)
  const Decision held = mb->before();
  CHECK(mb->profile().entries[static_cast<std::size_t>(held.entry)].hw.at("freq") == 2);
  arb.remove(c);
  arb.rearbitrate();
  CHECK(arb.granted(b).at("freq") == 2);
}
