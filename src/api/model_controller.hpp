#pragma once
// ModelController: ties one model (its ModelCore) to a RuntimeManager, a Governor and a sensor. Before each frame
// it takes the decision (from the manager, or from the arbiter it joined), applies it to the model and the
// hardware, times the frame, meters it where a sensor exists, and feeds the estimator. DynamicModel::setRuntime()
// and setTarget() create one inside the model; it is not a public type (one public way to run a managed model).
//
// Thread safety: every method may be called from several threads; frames are serialised (the manager pairs each
// decision with its measurement).

#include <ATen/core/Tensor.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "api/cpu_load_watch.hpp"
#include "api/model_core.hpp"
#include "dyndnn/hw/governor.hpp"
#include "dyndnn/hw/sensors.hpp"
#include "dyndnn/runtime.hpp"

namespace dyndnn {

class ModelController {
 public:
  /// The profile's operating points must exist in the model (InvalidArgument otherwise). `governor` applies the
  /// hardware part of each decision; profile entries using knobs it does not have are dropped (InvalidArgument
  /// when none is left). With no governor the hardware is left alone. `policy` defaults to the manager's own.
  /// Starts suspended: frames run unmanaged until setTarget().
  ModelController(std::shared_ptr<ModelCore> model, runtime::Profile profile, std::shared_ptr<hw::Governor> governor,
                  std::shared_ptr<hw::PowerSensor> sensor, std::unique_ptr<runtime::Policy> policy);
  ModelController(const ModelController&) = delete;
  ModelController& operator=(const ModelController&) = delete;
  ~ModelController();  // leaves the arbiter it joined

  /// Validates the target (InvalidArgument) and hands control to the manager.
  void setTarget(const runtime::Target& target);
  /// Suspend the manager without switching (the model keeps its current sub-network).
  void suspend();
  bool managed() const { return has_target_.load(std::memory_order_acquire); }

  /// Register with `arbiter` (registration.manager is set to this controller's) and re-arbitrate; each frame's
  /// decision then comes from arbiter->decide() and arbiter->done() follows the frame. From then on setTarget()
  /// re-arbitrates too (a placement depends on the target). InvalidArgument for a duplicate name or when no
  /// placement is free for some model.
  void join(std::shared_ptr<runtime::Arbiter> arbiter, runtime::Arbiter::Registration registration);
  /// An arbiter joined with join() and the registration it was joined under.
  struct Membership {
    std::shared_ptr<runtime::Arbiter> arbiter;
    runtime::Arbiter::Registration registration;
  };
  /// Leave the arbiter (re-arbitrating the others); returns what it left (nothing when it had not joined), so
  /// a caller can join() it again.
  std::optional<Membership> leave();

  at::Tensor infer(const at::Tensor& input);
  at::Tensor infer(const ImageView& image);

  /// Read the load of other processes per CPU every `period` in a thread of its own and pass it to the manager
  /// after each frame (RuntimeManager::observeCpuLoad). Where /proc cannot serve it, nothing is watched.
  void watchCpuLoad(std::chrono::milliseconds period);

  runtime::RuntimeManager& manager() { return *manager_; }
  std::shared_ptr<runtime::RuntimeManager> sharedManager() const { return manager_; }

 private:
  template <class In> at::Tensor run(const In& input);
  std::shared_ptr<ModelCore> model_;
  std::shared_ptr<runtime::RuntimeManager> manager_;
  std::shared_ptr<hw::Governor> governor_;
  std::shared_ptr<hw::PowerSensor> sensor_;
  std::optional<Membership> membership_;
  int arbiter_id_ = 0;
  std::vector<int> entry_threads_;                            // per profile entry: its thread count (0: none)
  std::vector<runtime::HardwareState> entry_governor_state_;  // per profile entry: the governor's part
  std::unique_ptr<CpuLoadWatch> load_watch_;
  std::vector<double> cpu_load_;  // the newest reading taken from load_watch_ (kept: no allocation per frame)
  std::mutex mutex_;
  std::atomic<bool> has_target_{false};  // read by DynamicModel::infer() without the mutex
};

}  // namespace dyndnn
