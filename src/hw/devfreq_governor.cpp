// devfreq DVFS backend for Jetson GPUs (one knob "devfreq.gpu", Hz); same rules as cpufreq.

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "frequency_domain.hpp"
#include "knob_governor.hpp"

namespace dyndnn::hw {
namespace {

// Known Jetson GPU devfreq directories (FACTS section 4), most common first.
constexpr const char* kJetsonGpuDirs[] = {
    "sys/devices/17000000.gv11b/devfreq/17000000.gv11b",  // Xavier, Xavier NX
    "sys/devices/17000000.ga10b/devfreq/17000000.ga10b",  // Orin
    "sys/devices/gpu.0/devfreq/57000000.gpu",             // Nano
};

class DevfreqGovernor final : public KnobGovernor {
 public:
  DevfreqGovernor(const GovernorOptions& options, const FrequencyFiles& files)
      : fs_(options.root),
        journal_(RestoreJournal::open(options.state_file)),
        owner_(journal_->newOwner()),
        domain_(fs_, files, options.frequency_mode) {
    knobs_.push_back(domain_.describe("devfreq.gpu"));
    knobs_.back().note += "; " + fs_.path(files.dir);
  }
  ~DevfreqGovernor() override { restoreQuietly(); }

  std::string name() const override { return "devfreq"; }

 protected:
  void setKnob(const Knob&, std::int64_t value) override { domain_.set(value, *journal_, owner_); }
  std::int64_t readKnob(const Knob&) const override { return domain_.read(); }
  void restoreOriginal() override { journal_->restore(owner_); }

 private:
  Sysfs fs_;
  std::shared_ptr<RestoreJournal> journal_;
  int owner_;
  FrequencyDomain domain_;
};

}  // namespace

std::string findJetsonGpuDevfreq(const Sysfs& fs) {
  for (const char* dir : kJetsonGpuDirs)
    if (fs.isDirectory(dir)) return dir;
  return "";
}

std::unique_ptr<Governor> makeDevfreqGovernor(const GovernorOptions& options, const std::string& device_dir) {
  Sysfs fs(options.root);
  const std::string dir = device_dir.empty() ? findJetsonGpuDevfreq(fs) : relativeSysPath(device_dir);
  if (dir.empty() || !fs.isDirectory(dir))
    throw HardwareError(fmt::format("no devfreq GPU under {} (looked for the Jetson Xavier, Orin and Nano paths{}); "
                                    "pass the device directory or choose another backend",
                                    fs.root(), device_dir.empty() ? "" : " and " + fs.path(device_dir)));
  FrequencyFiles f;
  f.dir = dir;
  f.governor = "governor";
  f.available_governors = "available_governors";
  f.setspeed = "userspace/set_freq";
  f.min = "min_freq";
  f.max = "max_freq";
  f.cur = "cur_freq";
  f.available = "available_frequencies";
  f.stats = "trans_stat";
  f.stats_is_trans_stat = true;
  f.setspeed_appears_with_governor = true;
  f.unit = "Hz";
  return std::make_unique<DevfreqGovernor>(options, f);
}

}  // namespace dyndnn::hw
