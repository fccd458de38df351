// ModelController: a model's core + RuntimeManager + Governor (+ sensor). The api layer's (needs LibTorch).

#include "api/model_controller.hpp"

#include <chrono>
#include <set>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn {

ModelController::ModelController(std::shared_ptr<ModelCore> model, runtime::Profile profile,
                                 std::shared_ptr<hw::Governor> governor, std::shared_ptr<hw::PowerSensor> sensor,
                                 std::unique_ptr<runtime::Policy> policy)
    : model_(std::move(model)), governor_(std::move(governor)), sensor_(std::move(sensor)) {
  std::set<std::string> known;
  for (const auto& op : model_->operatingPoints()) known.insert(op.name);
  for (const auto& op : profile.operatingPoints())
    if (!known.count(op))
      throw InvalidArgument(fmt::format("setRuntime: the profile names operating point '{}' which {} does not have; "
                                        "profile this package with `dyndnn profile`", op, model_->info().path));
  std::set<std::string> names;  // the governor's knobs
  if (governor_)
    for (const auto& k : governor_->knobs()) names.insert(k.name);
  if (governor_) {  // entries whose knobs the governor cannot set would be chosen but never applied
    std::vector<runtime::ProfileEntry> usable;
    for (const auto& e : profile.entries) {
      bool ok = true;
      for (const auto& [k, v] : e.hw) ok &= names.count(k) > 0 || k == hw::knobs::kThreads;  // the model's own
      if (ok) usable.push_back(e);
    }
    if (usable.empty())
      throw InvalidArgument(fmt::format("setRuntime: no profile entry uses only knobs of governor {}; profile with "
                                        "the same governor", governor_->name()));
    profile.entries = std::move(usable);
  }
  manager_ = std::make_shared<runtime::RuntimeManager>(std::move(profile), runtime::Target{}, std::move(policy));
  manager_->suspend();  // no target yet: frames run as on a plain model
  // What each entry asks of the model and the governor, worked out once: a frame then looks it up.
  for (const auto& e : manager_->profile().entries) {
    entry_threads_.push_back(hw::threadsOf(e.hw));
    runtime::HardwareState apply;
    for (const auto& [k, v] : e.hw)
      if (names.count(k)) apply[k] = v;
    entry_governor_state_.push_back(std::move(apply));
  }
}

ModelController::~ModelController() { leave(); }

void ModelController::watchCpuLoad(std::chrono::milliseconds period) {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    load_watch_ = std::make_unique<CpuLoadWatch>(period);
  } catch (const HardwareError&) {
    load_watch_.reset();  // no per-CPU /proc/stat here: the estimates alone decide when to try a placement again
  }
}

void ModelController::setTarget(const runtime::Target& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  manager_->setTarget(target);
  has_target_ = true;
  if (membership_) membership_->arbiter->rearbitrate();  // the best placement depends on the target
}

void ModelController::suspend() {
  std::lock_guard<std::mutex> lock(mutex_);
  manager_->suspend();
  has_target_ = false;
}

void ModelController::join(std::shared_ptr<runtime::Arbiter> arbiter,
                           runtime::Arbiter::Registration registration) {
  if (!arbiter) throw InvalidArgument("setRuntime: joining needs an arbiter");
  leave();
  registration.manager = manager_;
  const int id = arbiter->add(registration);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    membership_ = Membership{arbiter, std::move(registration)};
    arbiter_id_ = id;
  }
  try {
    arbiter->rearbitrate();
  } catch (...) {
    leave();
    throw;
  }
}

std::optional<ModelController::Membership> ModelController::leave() {
  std::optional<Membership> left;
  int id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(membership_);
    id = arbiter_id_;
  }
  if (!left) return std::nullopt;
  left->arbiter->remove(id);
  try {
    left->arbiter->rearbitrate();  // a placement this model held may now suit another
  } catch (const std::exception&) {
    // The others keep their last placements: leaving must not fail.
  }
  return left;
}

template <class In>
at::Tensor ModelController::run(const In& input) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!has_target_) return model_->infer(input);
  runtime::Arbiter* arbiter = membership_ ? membership_->arbiter.get() : nullptr;
  const runtime::Decision d = arbiter ? arbiter->decide(arbiter_id_) : manager_->before();
  // From here a throw (a bad input, a failed switch or knob write) ends a frame that did not happen: the
  // arbiter forgets this model's needs so no shared knob stays raised for it, and the estimator learns nothing.
  struct FrameEnd {
    runtime::Arbiter* arbiter;
    int id;
    ~FrameEnd() {
      if (arbiter) arbiter->done(id);
    }
  } frame_end{arbiter, arbiter_id_};
  const auto entry = static_cast<std::size_t>(d.entry);
  const auto& e = manager_->profile().entries[entry];
  if (!model_->isActive(e.op)) model_->activate(model_->byName(e.op));
  // The thread count is the model's own (each infer() sizes the calling thread's OpenMP team from it).
  if (const int t = entry_threads_[entry]; t > 0 && model_->threads() != t) model_->setThreads(t);
  if (governor_) governor_->apply(entry_governor_state_[entry]);  // unchanged knobs cost nothing
  const double e0 = sensor_ ? sensor_->sample().joules : 0;
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor out = model_->infer(input);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double energy = sensor_ ? sensor_->sample().joules - e0 : -1;
  manager_->after(ms, energy);
  if (load_watch_ && load_watch_->take(cpu_load_)) manager_->observeCpuLoad(cpu_load_);
  return out;
}

at::Tensor ModelController::infer(const at::Tensor& input) { return run(input); }
at::Tensor ModelController::infer(const ImageView& image) { return run(image); }

}  // namespace dyndnn
