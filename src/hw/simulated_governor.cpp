// The simulated platform behind the Governor and PowerSensor interfaces, so runtime code and benchmarks run
// unchanged on it; all names and notes say SIMULATED.

#include <fmt/format.h>

#include "dyndnn/sim/platform.hpp"
#include "knob_governor.hpp"

namespace dyndnn::hw {
namespace {

class SimulatedGovernor final : public KnobGovernor {
 public:
  explicit SimulatedGovernor(std::shared_ptr<SimulatedPlatform> platform) : platform_(std::move(platform)) {
    for (const auto& d : platform_->profile().domains) {
      Knob k;
      k.name = "simulated." + d.name + ".freq";
      k.unit = d.unit;
      for (const auto& v : d.opps) k.levels.push_back(v.freq);
      k.note = fmt::format("SIMULATED {} ({})", platform_->profile().name, platform_->profile().provenance);
      knobs_.push_back(k);
      initial_.push_back(platform_->frequency(d.name));
    }
  }
  ~SimulatedGovernor() override { restoreQuietly(); }
  std::string name() const override { return "simulated:" + platform_->profile().name; }
  bool simulated() const override { return true; }

 protected:
  void setKnob(const Knob& k, std::int64_t value) override { platform_->setFrequency(domainOf(k), value); }
  std::int64_t readKnob(const Knob& k) const override { return platform_->frequency(domainOf(k)); }
  void restoreOriginal() override {
    const auto& domains = platform_->profile().domains;
    for (std::size_t i = 0; i < domains.size(); ++i) platform_->setFrequency(domains[i].name, initial_[i]);
  }

 private:
  static std::string domainOf(const Knob& k) { return k.name.substr(10, k.name.size() - 10 - 5); }  // simulated.X.freq

  std::shared_ptr<SimulatedPlatform> platform_;
  std::vector<std::int64_t> initial_;
};

class SimulatedSensor final : public PowerSensor {
 public:
  explicit SimulatedSensor(std::shared_ptr<SimulatedPlatform> platform)
      : PowerSensor([p = platform] { return p->timeSeconds(); }), platform_(std::move(platform)) {
    last_ = platform_->energyJoules();
  }
  SensorInfo info() const override {
    return {"simulated." + platform_->profile().name, "SIMULATED power model", true,
            "simulated energy on the simulated clock"};
  }

 protected:
  Reading read() override {
    const double e = platform_->energyJoules();
    const double delta = e - last_;
    last_ = e;
    return {std::nullopt, delta};
  }

 private:
  std::shared_ptr<SimulatedPlatform> platform_;
  double last_ = 0;
};

}  // namespace

std::unique_ptr<Governor> makeSimulatedGovernor(std::shared_ptr<SimulatedPlatform> platform) {
  return std::make_unique<SimulatedGovernor>(std::move(platform));
}

std::unique_ptr<PowerSensor> makeSimulatedSensor(std::shared_ptr<SimulatedPlatform> platform) {
  return std::make_unique<SimulatedSensor>(std::move(platform));
}

}  // namespace dyndnn::hw
