#pragma once
// KnobGovernor: what every backend shares, so a backend only says how to set and read one knob and how to
// put back what it found. It validates states, skips knobs already at the requested level without touching
// the system, serialises apply() with a mutex and turns a half-done apply into "nothing changed".

#include <mutex>

#include "dyndnn/hw/governor.hpp"

namespace dyndnn::hw {

class KnobGovernor : public Governor {
 public:
  std::vector<Knob> knobs() const override;
  void apply(const HardwareState& state) override;
  HardwareState current() const override;
  HardwareState applied() const override;
  void restore() override;

 protected:
  // Called with the mutex held.
  virtual void setKnob(const Knob& knob, std::int64_t value) = 0;
  virtual std::int64_t readKnob(const Knob& knob) const = 0;
  virtual void restoreOriginal() = 0;
  /// Whether apply() may set `value`; by default, one of the knob's levels.
  virtual bool accepts(const Knob& knob, std::int64_t value) const;

  /// For destructors of concrete backends (the base destructor can no longer reach them): restore and
  /// swallow errors, since a destructor must not throw.
  void restoreQuietly() noexcept;
  const Knob& knob(const std::string& name) const;

  std::vector<Knob> knobs_;
  mutable std::mutex mutex_;

 private:
  HardwareState applied_;
};

}  // namespace dyndnn::hw
