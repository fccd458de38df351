// cpufreq DVFS backend: one knob per policy (a big/LITTLE SoC has one policy per cluster), in kHz.

#include <algorithm>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "frequency_domain.hpp"
#include "knob_governor.hpp"

namespace dyndnn::hw {
namespace {

constexpr const char* kCpufreqDir = "sys/devices/system/cpu/cpufreq";

class CpufreqGovernor final : public KnobGovernor {
 public:
  explicit CpufreqGovernor(const GovernorOptions& options)
      : fs_(options.root), journal_(RestoreJournal::open(options.state_file)), owner_(journal_->newOwner()) {
    std::vector<std::pair<int, std::string>> policies;
    for (const auto& name : fs_.list(kCpufreqDir)) {
      if (name.rfind("policy", 0) != 0 || name.size() == 6) continue;
      if (!std::all_of(name.begin() + 6, name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      policies.emplace_back(std::stoi(name.substr(6)), name);
    }
    std::sort(policies.begin(), policies.end());
    if (policies.empty())
      throw HardwareError(fmt::format("no cpufreq policy under {}: this machine (often a VM) has no CPU frequency "
                                      "scaling; use the affinity backend or the simulated platform",
                                      fs_.path(kCpufreqDir)));
    for (const auto& [index, name] : policies) {
      FrequencyFiles f;
      f.dir = std::string(kCpufreqDir) + "/" + name;
      f.governor = "scaling_governor";
      f.available_governors = "scaling_available_governors";
      f.setspeed = "scaling_setspeed";
      f.min = "scaling_min_freq";
      f.max = "scaling_max_freq";
      f.cur = "scaling_cur_freq";
      f.available = "scaling_available_frequencies";
      f.stats = "stats/time_in_state";
      f.hw_min = "cpuinfo_min_freq";
      f.hw_max = "cpuinfo_max_freq";
      f.unit = "kHz";
      domains_.emplace_back(fs_, f, options.frequency_mode);
      Knob k = domains_.back().describe("cpufreq." + name);
      if (fs_.exists(f.dir + "/related_cpus")) {  // space-separated numbers, not a "0-3" list
        std::vector<int> cpus;
        for (auto c : fs_.readInts(f.dir + "/related_cpus")) cpus.push_back(static_cast<int>(c));
        k.note += "; CPUs " + formatCpuList(cpus);
      }
      knobs_.push_back(std::move(k));
    }
  }
  ~CpufreqGovernor() override { restoreQuietly(); }

  std::string name() const override { return "cpufreq"; }

 protected:
  void setKnob(const Knob& knob, std::int64_t value) override { domain(knob).set(value, *journal_, owner_); }
  std::int64_t readKnob(const Knob& knob) const override { return domain(knob).read(); }
  void restoreOriginal() override { journal_->restore(owner_); }

 private:
  const FrequencyDomain& domain(const Knob& knob) const {
    for (std::size_t i = 0; i < knobs_.size(); ++i)
      if (knobs_[i].name == knob.name) return domains_[i];
    throw InvalidArgument("cpufreq: unknown knob " + knob.name);
  }

  Sysfs fs_;
  std::shared_ptr<RestoreJournal> journal_;
  int owner_;
  std::vector<FrequencyDomain> domains_;
};

}  // namespace

std::unique_ptr<Governor> makeCpufreqGovernor(const GovernorOptions& options) {
  return std::make_unique<CpufreqGovernor>(options);
}

}  // namespace dyndnn::hw
