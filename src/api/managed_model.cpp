// ManagedModel: DynamicModel + RuntimeManager + Governor (+ sensor). Part of the dyndnn library (needs LibTorch).

#include "dyndnn/managed_model.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn {

ManagedModel::ManagedModel(DynamicModel& model, runtime::Profile profile, std::shared_ptr<hw::Governor> governor,
                           std::shared_ptr<hw::PowerSensor> sensor, std::unique_ptr<runtime::Policy> policy)
    : model_(&model), governor_(std::move(governor)), sensor_(std::move(sensor)) {
  std::set<std::string> known;
  for (const auto& op : model_->operatingPoints()) known.insert(op.name);
  for (const auto& op : profile.operatingPoints())
    if (!known.count(op))
      throw InvalidArgument(fmt::format("managed model: the profile names operating point '{}' which {} does not have; "
                                        "profile this package with `dyndnn profile`", op, model_->info().path));
  std::set<std::string> names;  // the governor's knobs
  if (governor_)
    for (const auto& k : governor_->knobs()) names.insert(k.name);
  if (governor_) {  // entries whose knobs the governor cannot set would be chosen but never applied
    std::vector<runtime::ProfileEntry> usable;
    for (const auto& e : profile.entries) {
      bool ok = true;
      for (const auto& [k, v] : e.hw) ok &= names.count(k) > 0 || k == "threads";  // threads: the model's own
      if (ok) usable.push_back(e);
    }
    if (usable.empty())
      throw InvalidArgument(fmt::format("managed model: no profile entry uses only knobs of governor {}; profile with "
                                        "the same governor", governor_->name()));
    profile.entries = std::move(usable);
  }
  manager_ = std::make_shared<runtime::RuntimeManager>(std::move(profile), runtime::Target{}, std::move(policy));
  manager_->suspend();  // no target yet: behave as a plain DynamicModel
  // What each entry asks of the model and the governor, worked out once: a frame then looks it up.
  for (const auto& e : manager_->profile().entries) {
    auto t = e.hw.find("threads");
    entry_threads_.push_back(t == e.hw.end() ? 0 : static_cast<int>(t->second));
    runtime::HardwareState apply;
    for (const auto& [k, v] : e.hw)
      if (names.count(k)) apply[k] = v;
    entry_governor_state_.push_back(std::move(apply));
  }
}

void ManagedModel::setTarget(const runtime::Target& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  manager_->setTarget(target);
  has_target_ = true;
  if (owns_registration_) arbiter_->rearbitrate();  // the best placement depends on the target
}

void ManagedModel::setSubnet(const std::string& operating_point) {
  std::lock_guard<std::mutex> lock(mutex_);
  model_->setSubnetDirect(operating_point);
  manager_->suspend();
  has_target_ = false;
}

void ManagedModel::suspend() {
  std::lock_guard<std::mutex> lock(mutex_);
  manager_->suspend();
  has_target_ = false;
}

bool ManagedModel::managed() const { return has_target_; }

void ManagedModel::attach(std::shared_ptr<runtime::HardwareArbiter> arbiter, int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (arbiter) {
    const auto ids = arbiter->ids();
    if (std::find(ids.begin(), ids.end(), id) == ids.end())
      throw InvalidArgument(fmt::format("managed model: id {} is not registered with the arbiter; use the id "
                                        "HardwareArbiter::add returned for this model's sharedManager()", id));
  }
  arbiter_ = std::move(arbiter);
  arbiter_id_ = id;
}

void ManagedModel::join(std::shared_ptr<runtime::HardwareArbiter> arbiter,
                        runtime::HardwareArbiter::Registration registration) {
  if (!arbiter) throw InvalidArgument("managed model: join() needs an arbiter");
  leave();
  registration.manager = manager_;
  const int id = arbiter->add(registration);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    arbiter_ = arbiter;
    arbiter_id_ = id;
    owns_registration_ = true;
    registration_ = std::move(registration);
  }
  try {
    arbiter->rearbitrate();
  } catch (...) {
    leave();
    throw;
  }
}

std::optional<ManagedModel::Membership> ManagedModel::leave() {
  Membership left;
  int id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!owns_registration_) return std::nullopt;
    left = {std::move(arbiter_), std::move(registration_)};
    id = arbiter_id_;
    owns_registration_ = false;
  }
  left.arbiter->remove(id);
  try {
    left.arbiter->rearbitrate();  // a placement this model held may now suit another
  } catch (const std::exception&) {
    // The others keep their last placements: leaving must not fail.
  }
  return left;
}

ManagedModel::~ManagedModel() { leave(); }

template <class In>
at::Tensor ManagedModel::run(const In& input) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!has_target_) return model_->inferDirect(input);
  const runtime::Decision d = arbiter_ ? arbiter_->decide(arbiter_id_) : manager_->before();
  // From here a throw (a bad input, a failed switch or knob write) ends a frame that did not happen: the
  // arbiter forgets this model's needs so no shared knob stays raised for it, and the estimator learns nothing.
  struct FrameEnd {
    runtime::HardwareArbiter* arbiter;
    int id;
    ~FrameEnd() {
      if (arbiter) arbiter->done(id);
    }
  } frame_end{arbiter_.get(), arbiter_id_};
  const auto entry = static_cast<std::size_t>(d.entry);
  const auto& e = manager_->profile().entries[entry];
  if (!model_->isActive(e.op)) model_->setSubnetDirect(e.op);
  // The thread count is the model's own (each infer() sizes the calling thread's OpenMP team from it).
  if (const int t = entry_threads_[entry]; t > 0 && model_->threads() != t) model_->setThreads(t);
  if (governor_) governor_->apply(entry_governor_state_[entry]);  // unchanged knobs cost nothing
  const double e0 = sensor_ ? sensor_->sample().joules : 0;
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor out = model_->inferDirect(input);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double energy = sensor_ ? sensor_->sample().joules - e0 : -1;
  manager_->after(ms, energy);
  return out;
}

at::Tensor ManagedModel::infer(const at::Tensor& input) { return run(input); }
at::Tensor ManagedModel::infer(const ImageView& image) { return run(image); }

}  // namespace dyndnn
