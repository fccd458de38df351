// NVML backend: GPU graphics clock as a knob. Locking clocks is machine-wide and root-only, so it is opt-in.

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/nvml.hpp"
#include "knob_governor.hpp"
#include "nvml_library.hpp"

namespace dyndnn::hw {
namespace {

class NvmlGovernor final : public KnobGovernor {
 public:
  explicit NvmlGovernor(const NvmlOptions& options)
      : lib_(NvmlLibrary::load(options.library)), dev_(lib_->device(options.device)), options_(options) {
    Knob k;
    k.name = fmt::format("nvml.gpu{}.clock", options.device);
    k.unit = "MHz";
    k.levels = lib_->graphicsClocksMHz(dev_);
    k.writable = options.allow_clock_locking;
    k.note = options.allow_clock_locking
                 ? fmt::format("{}: locks graphics clocks (root)", lib_->name(dev_))
                 : fmt::format("{}: read-only; set NvmlOptions::allow_clock_locking to lock clocks", lib_->name(dev_));
    knobs_.push_back(k);
  }
  ~NvmlGovernor() override { restoreQuietly(); }
  std::string name() const override { return "nvml"; }

 protected:
  void setKnob(const Knob&, std::int64_t mhz) override {
    locked_ = true;  // even a failed lock may have changed something: reset on restore
    lib_->lockGraphicsClocks(dev_, static_cast<unsigned>(mhz), static_cast<unsigned>(mhz));
  }
  std::int64_t readKnob(const Knob&) const override { return lib_->currentGraphicsClockMHz(dev_); }
  void restoreOriginal() override {
    if (!locked_) return;
    lib_->resetGraphicsClocks(dev_);
    locked_ = false;
  }

 private:
  std::shared_ptr<NvmlLibrary> lib_;
  void* dev_;
  NvmlOptions options_;
  bool locked_ = false;
};

}  // namespace

bool nvmlAvailable(const NvmlOptions& options, std::string* why) {
  try {
    auto lib = NvmlLibrary::load(options.library);
    lib->device(options.device);
    return true;
  } catch (const HardwareError& e) {
    if (why) *why = e.what();
    return false;
  }
}

std::unique_ptr<Governor> makeNvmlGovernor(const NvmlOptions& options) { return std::make_unique<NvmlGovernor>(options); }

}  // namespace dyndnn::hw
