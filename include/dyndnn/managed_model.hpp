#pragma once
/// \file managed_model.hpp
/// A DynamicModel driven by the runtime manager: setTarget() states the goals, infer() does the rest (picks the
/// operating point and hardware state before each frame, times it, meters it where a sensor exists, and feeds
/// the estimator). Manual setSubnet() still works and suspends the manager until setTarget() is called again.
/// DynamicModel::setTarget()/setRuntime() use one of these inside the model; construct one yourself to register
/// a model with a runtime::HardwareArbiter (attach()).
///
/// Thread safety: infer(), setTarget() and setSubnet() may be called from several threads; ManagedModel
/// serialises its frames (the manager pairs each decision with its measurement). For concurrent inference on
/// one device, give each thread its own ManagedModel and register them with one runtime::HardwareArbiter.

#include <ATen/core/Tensor.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/model.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn {

class ManagedModel {
 public:
  /// `model` must outlive this object. The profile's operating points must exist in the model (InvalidArgument
  /// otherwise). `governor` applies the hardware part of each decision; profile entries using knobs it does not
  /// have are dropped (InvalidArgument when none is left). With no governor the hardware is left alone: give a
  /// profile of the one hardware state the model runs on. `sensor` meters each frame when given. `policy`
  /// defaults to the manager's own (runtime::makeManagerPolicy()).
  ManagedModel(DynamicModel& model, runtime::Profile profile, std::shared_ptr<hw::Governor> governor = nullptr,
               std::shared_ptr<hw::PowerSensor> sensor = nullptr, std::unique_ptr<runtime::Policy> policy = nullptr);

  /// Validates the target (InvalidArgument) and hands control to the manager.
  void setTarget(const runtime::Target& target);
  /// Manual switch: the manager is suspended until the next setTarget().
  void setSubnet(const std::string& operating_point);
  /// Suspend the manager without switching (the model keeps its current sub-network).
  void suspend();
  bool managed() const;

  /// Join a per-process arbiter (`id` from HardwareArbiter::add with this->sharedManager()): each frame's decision
  /// then comes from arbiter->decide(id) (within the model's placement, shared knobs at what every running model
  /// needs) and arbiter->done(id) follows the frame. nullptr detaches.
  void attach(std::shared_ptr<runtime::HardwareArbiter> arbiter, int id);
  /// Register with `arbiter` (registration.manager is set to this model's) and attach, then re-arbitrate. The
  /// registration is this object's: leave() or the destructor removes it and re-arbitrates the others. From then
  /// on setTarget() re-arbitrates too (a placement depends on the target). Throws InvalidArgument for a null
  /// arbiter, a duplicate name, or when no placement is free for some model.
  void join(std::shared_ptr<runtime::HardwareArbiter> arbiter, runtime::HardwareArbiter::Registration registration);
  /// An arbiter joined with join() and the registration it was joined under.
  struct Membership {
    std::shared_ptr<runtime::HardwareArbiter> arbiter;
    runtime::HardwareArbiter::Registration registration;
  };
  /// Leave the arbiter joined with join(); the model then decides alone again. Returns what it left (nothing
  /// when it had not joined), so a caller can join() it again.
  std::optional<Membership> leave();
  ~ManagedModel();

  at::Tensor infer(const at::Tensor& input);
  at::Tensor infer(const ImageView& image);

  runtime::RuntimeManager& manager() { return *manager_; }
  std::shared_ptr<runtime::RuntimeManager> sharedManager() { return manager_; }
  DynamicModel& model() { return *model_; }

 private:
  friend class DynamicModel;  // re-points model_ when the DynamicModel that owns this one is moved
  template <class In> at::Tensor run(const In& input);
  DynamicModel* model_;
  std::shared_ptr<runtime::RuntimeManager> manager_;
  std::shared_ptr<hw::Governor> governor_;
  std::shared_ptr<hw::PowerSensor> sensor_;
  std::shared_ptr<runtime::HardwareArbiter> arbiter_;
  int arbiter_id_ = 0;
  bool owns_registration_ = false;  // joined (not merely attached): removed from the arbiter on leave()
  runtime::HardwareArbiter::Registration registration_;  // as joined, returned by leave()
  std::vector<int> entry_threads_;                           // per profile entry: its "threads" (0: none)
  std::vector<runtime::HardwareState> entry_governor_state_;  // per profile entry: the governor's part
  std::mutex mutex_;
  std::atomic<bool> has_target_{false};  // read by DynamicModel::infer() without the mutex
};

}  // namespace dyndnn
