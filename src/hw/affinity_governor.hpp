#pragma once
// Internal: the affinity backend's class, so boundWorkers() can find it inside a composite.

#include "dyndnn/hw/affinity.hpp"
#include "knob_governor.hpp"

namespace dyndnn::hw {

class AffinityGovernor final : public KnobGovernor {
 public:
  AffinityGovernor(const GovernorOptions& options, std::shared_ptr<WorkerTeam> team);
  ~AffinityGovernor() override;
  std::string name() const override { return "affinity"; }
  std::vector<WorkerBinding> lastBinding() const;

 protected:
  void setKnob(const Knob& knob, std::int64_t value) override;
  std::int64_t readKnob(const Knob& knob) const override;
  void restoreOriginal() override;
  bool accepts(const Knob& knob, std::int64_t value) const override;

 private:
  void bindAll(std::int64_t mask, int threads);

  std::shared_ptr<WorkerTeam> team_;
  std::int64_t original_mask_ = 0;
  std::int64_t allowed_ = 0;  // online CPUs this process may use
  int original_threads_ = 1;
  int max_threads_used_ = 1;
  std::int64_t mask_ = 0;  // 0 = never bound
  std::vector<WorkerBinding> bindings_;
};

}  // namespace dyndnn::hw
