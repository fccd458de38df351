// NVML board power; the energy counter (Volta and later) is preferred because it integrates on the GPU at a
// far higher rate than we can sample.

#include <fmt/format.h>

#include "dyndnn/hw/sensors.hpp"
#include "nvml_library.hpp"

namespace dyndnn::hw {
namespace {

class NvmlSensor final : public PowerSensor {
 public:
  NvmlSensor(const NvmlOptions& options, Clock clock)
      : PowerSensor(std::move(clock)), lib_(NvmlLibrary::load(options.library)), dev_(lib_->device(options.device)),
        index_(options.device) {
    last_energy_ = lib_->energyJoules(dev_);
  }
  SensorInfo info() const override {
    return {fmt::format("nvml.gpu{}", index_), "NVML " + lib_->name(dev_), false,
            last_energy_ ? "energy counter (mJ)" : "power (mW), integrated"};
  }

 protected:
  Reading read() override {
    if (last_energy_) {
      if (auto e = lib_->energyJoules(dev_)) {
        const double delta = *e - *last_energy_;
        last_energy_ = e;
        return {std::nullopt, delta};
      }
    }
    return {lib_->powerWatts(dev_), std::nullopt};
  }

 private:
  std::shared_ptr<NvmlLibrary> lib_;
  void* dev_;
  unsigned index_;
  std::optional<double> last_energy_;
};

}  // namespace

std::unique_ptr<PowerSensor> makeNvmlSensor(const NvmlOptions& options, PowerSensor::Clock clock) {
  return std::make_unique<NvmlSensor>(options, std::move(clock));
}

}  // namespace dyndnn::hw
