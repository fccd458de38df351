#pragma once
// Internal: the composite's class, so helpers (boundWorkers, simulated lookups) can walk its children.

#include <mutex>

#include "dyndnn/hw/governor.hpp"

namespace dyndnn::hw {

class CompositeGovernor final : public Governor {
 public:
  explicit CompositeGovernor(std::vector<std::unique_ptr<Governor>> children);
  ~CompositeGovernor() override;
  std::string name() const override;
  std::vector<Knob> knobs() const override;
  void apply(const HardwareState& state) override;
  HardwareState current() const override;
  HardwareState applied() const override;
  void restore() override;
  bool simulated() const override;
  const std::vector<std::unique_ptr<Governor>>& children() const { return children_; }

 private:
  std::vector<std::unique_ptr<Governor>> children_;
  std::vector<std::vector<std::string>> owned_;  // knob names per child
  mutable std::mutex mutex_;
};

}  // namespace dyndnn::hw
