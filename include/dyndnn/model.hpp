#pragma once
/// \file model.hpp
/// DynamicModel: one shared-weight supernet and its operating points, switched at run time.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/runtime.hpp"
#include "dyndnn/subnet_config.hpp"
#include "dyndnn/types.hpp"

namespace dyndnn {

namespace hw {
class PowerSensor;
}

/// Where inference runs.
enum class Device { CPU, CUDA };

/// Options of DynamicModel::load. Plain struct with defaults.
struct ModelOptions {
  Device device = Device::CPU;
  /// Intra-op threads of this model's inference; 0 follows LibTorch's process-wide setting
  /// (at::set_num_threads, which is global to the process: every model and every other LibTorch user).
  /// A non-zero value applies to this model only: each infer() sizes the calling thread's OpenMP team,
  /// which is per thread, so two models with different counts coexist in one process.
  int threads = 0;
  /// Which library runs the operators: "auto" (CPU: oneDNN, unless it would run its reference code for some
  /// operator, as on NEON-only ARM cores, then XNNPACK; CUDA: "aten", i.e. cuDNN), "onednn", "xnnpack", "aten"
  /// (LibTorch's own kernels; the only one on CUDA) or "reference" (unfused eager ATen: the oracle, slow).
  /// `DynamicModel::describeGraph` shows the kernel each operator got.
  std::string backend = "auto";
  /// Check the package's CRC-32 over all tensors and metadata at load (a few ms per 10 MB). Turn off only
  /// for packages on trusted, checked storage when load time matters.
  bool verify_checksum = true;
  /// Memory budget of the cache of prepared sub-networks (execution plans), in bytes; least recently used
  /// plans are evicted first. The active plan always stays alive, whatever the budget.
  std::size_t plan_cache_bytes = std::size_t{256} << 20;
  /// After load, prepare the plans of the other operating points in the background (lowest priority),
  /// as long as they fit the cache budget without evicting anything, so that switching between operating
  /// points costs about a microsecond from then on.
  bool prefetch_operating_points = true;
};

/// How the runtime manager drives a DynamicModel (DynamicModel::setRuntime). Move-only (it owns the policy).
struct RuntimeOptions {
  /// Latency (and power) per operating point x hardware state, e.g. from `dyndnn profile -o P.json` and
  /// runtime::Profile::load. Empty: the first setTarget() measures one here (see profile_* below).
  std::optional<runtime::Profile> profile;
  /// Applies the hardware part of each decision (DVFS, cores). nullptr: the hardware is left alone and only the
  /// model's own thread count (the "threads" knob) is tuned.
  std::shared_ptr<hw::Governor> governor;
  /// Meters each frame (energy) when given.
  std::shared_ptr<hw::PowerSensor> sensor;
  /// Decision policy; nullptr: the manager's own (runtime::makeManagerPolicy()).
  std::unique_ptr<runtime::Policy> policy;
  /// The profile measured when none is given: every operating point on each of these states (default: thread
  /// counts 1 .. min(usable CPUs, 4)), `profile_warmup` + `profile_runs` inferences each on random input.
  std::vector<runtime::HardwareState> profile_states;
  int profile_warmup = 3, profile_runs = 10;
  /// Several models on one device: join this arbiter (a runtime::HardwareArbiter for the models of this process,
  /// daemon::connectArbiter() for the device's dyndnnd) under `registration` (name, priority, placements,
  /// exclusive knob; its manager is filled in). The arbiter re-arbitrates when the model joins, when its target
  /// changes and when it leaves (another setRuntime() or destruction); each frame's decision then comes from it.
  std::shared_ptr<runtime::Arbiter> arbiter;
  runtime::Arbiter::Registration registration;
  /// With several thread counts in the profile: how often a thread of the runtime reads the load of other
  /// processes per CPU (/proc/stat) for the manager (runtime::RuntimeManager::observeCpuLoad), in ms; 0: never.
  int cpu_load_period_ms = 100;
};

/// A dynamic DNN: one memory-mapped supernet, a catalogue of operating points, one active sub-network.
///
/// Thread safety: infer() may be called from several threads at once and concurrently with setSubnet()
/// and requestSubnet(); each call runs on the sub-network that was active when it started. Every const method is safe to call
/// concurrently. load() and destruction must not race with other calls on the same object.
/// Movable, not copyable.
class DynamicModel {
 public:
  /// Memory-map and validate a .dyn package. Throws IoError (cannot open/map), FormatError (malformed
  /// package; the message names the file and field) or InvalidArgument (bad options).
  /// The first operating point (or the largest sub-network when there is none) becomes active.
  static DynamicModel load(const std::string& path, const ModelOptions& options = {});

  DynamicModel(DynamicModel&&) noexcept;
  DynamicModel& operator=(DynamicModel&&) noexcept;
  DynamicModel(const DynamicModel&) = delete;
  DynamicModel& operator=(const DynamicModel&) = delete;
  ~DynamicModel();

  const PackageInfo& info() const;
  const std::vector<OperatingPoint>& operatingPoints() const;

  /// Activate an operating point by name (uses its per-subnet BN statistics when stored); blocks until its
  /// execution plan is ready (immediate when cached).
  /// Throws InvalidArgument naming the known operating points when there is no such name.
  void setSubnet(const std::string& operating_point);
  /// Activate an explicit sub-network (uses the supernet's BN statistics). The config is validated
  /// against the supernet; scalars broadcast. Throws InvalidArgument saying which field is wrong.
  void setSubnet(const SubnetConfig& config);

  /// Asynchronous switch: returns at once. A background worker prepares the sub-network (unless cached)
  /// while infer() keeps serving the current one; the first infer() after it is ready swaps to it
  /// atomically. A later request replaces an earlier one still pending. Validation errors throw here;
  /// a failure while preparing leaves the current sub-network active and is reported by lastSwitchError().
  void requestSubnet(const std::string& operating_point);
  void requestSubnet(const SubnetConfig& config);
  /// True while a requested switch has not yet taken effect.
  bool switchPending() const;
  /// Message of the last asynchronous preparation that failed (empty when none did).
  std::string lastSwitchError() const;

  /// Which execution backend runs the active sub-network ("onednn", "xnnpack", "aten" or "reference").
  std::string backend() const;
  /// Bytes the active sub-network's plan holds (packed constants and workspace).
  std::size_t activePlanBytes() const;
  /// The op graph of an operating point as this model runs it, one line per node: op, attributes, shapes,
  /// MACs, the family's layer name and the kernel the backend chose (builds the plan if it is not cached).
  /// Throws InvalidArgument for an unknown name.
  std::string describeGraph(const std::string& operating_point) const;
  /// Per node of that graph (the input left out): the op, the family's layer name, the kernel the backend chose
  /// and whether that kernel is a library's portable reference code (oneDNN's "gemm:ref" on NEON-only ARM).
  /// An empty name: the active sub-network (also one given as an explicit config).
  struct NodeKernel {
    std::string op, layer, kernel;
    bool reference = false;
  };
  std::vector<NodeKernel> kernels(const std::string& operating_point = {}) const;
  PlanCacheStats planCacheStats() const;

  /// Write one sub-network as a static package (family "static_graph"): its op graph and only the tensors it
  /// reads, with its BN statistics baked in (an operating point's own, or the supernet's for an explicit config).
  /// The package loads like any other, has one operating point (the name, accuracy and input spec carry over)
  /// and gives the same outputs as the sub-network here. Written to a temporary file beside `path` and renamed.
  /// Throws InvalidArgument for an unknown name or bad config, IoError when the file cannot be written.
  void exportSubnet(const std::string& operating_point, const std::string& path) const;
  void exportSubnet(const SubnetConfig& config, const std::string& path) const;
  /// Change the plan cache's budget (evicts at once when it shrinks).
  void setPlanCacheBudget(std::size_t bytes);
  /// Change this model's intra-op thread count (as ModelOptions::threads) for infer() calls that start later;
  /// 0 follows LibTorch's process-wide setting. Throws InvalidArgument outside 0..1024. Safe concurrently with
  /// infer(). The runtime manager uses it for its "threads" hardware knob.
  void setThreads(int threads);
  int threads() const;

  /// The active sub-network (normalised: every list full length) and its operating point name, or an
  /// empty name for an explicit config.
  SubnetConfig activeConfig() const;
  std::string activeName() const;

  /// Validate a config against the supernet and return it normalised (scalars broadcast).
  SubnetConfig normalise(const SubnetConfig& config) const;
  /// MACs and params of a sub-network (accuracy unknown).
  Metrics cost(const SubnetConfig& config) const;

  /// \name Runtime manager
  /// The application states its goals; every later infer() first lets the manager choose the operating point
  /// (and the hardware state, through RuntimeOptions::governor) that meets them, times the frame and feeds the
  /// estimator, so contention, throttling or a frequency cap is noticed within a few frames. A manual
  /// setSubnet() or requestSubnet() suspends the manager until the next setTarget(). While managed, infer()
  /// calls are serialised (each decision is paired with its own measurement).
  /// @{
  /// Install the profile, governor, sensor and policy (replacing earlier ones; a target in force stays in force).
  /// With several thread counts in the profile, the manager tracks a slowdown per thread count
  /// (RuntimeManager::setSlowdownPerThreads), so a competitor on one core moves it to the thread count it spares.
  /// Throws InvalidArgument when the profile names operating points this package lacks or uses knobs the
  /// governor does not have.
  void setRuntime(RuntimeOptions options);
  /// Validates the target (InvalidArgument naming the field: NaN, negative, zero fps, ...) and hands control to
  /// the manager. An infeasible target is not an error: the manager does its best and reports the constraint it
  /// cannot meet in runtimeStats().unmet. Without setRuntime(), the first call measures a profile here (about
  /// 13 inferences per operating point and thread count: well under a second for the shipped model, seconds for
  /// a full-size OFA network) with the hardware left alone.
  void setTarget(const runtime::Target& target);
  /// True while a target is in force (setTarget() called, no manual switch since).
  bool managed() const;
  /// The manager's counters, current choice, slowdown estimate and last reason. Throws InvalidArgument before
  /// setRuntime()/setTarget().
  runtime::ManagerStats runtimeStats() const;
  /// The manager itself (trace, per-frame callback, options), or nullptr before setRuntime()/setTarget().
  std::shared_ptr<runtime::RuntimeManager> runtimeManager() const;
  /// @}

  /// Logits [N, classes] for a float32 NCHW (or CHW) tensor of any spatial size; inputs whose size differs
  /// from the active resolution are resized (bilinear). Throws InvalidArgument for a wrong rank, channel
  /// count, dtype, device or an empty tensor.
  at::Tensor infer(const at::Tensor& input) const;
  /// Logits [1, classes] for an 8-bit image: resized, centre-cropped and normalised with the package's
  /// mean/std (channels must match the model's).
  at::Tensor infer(const ImageView& image) const;

 private:
  void installRuntime(RuntimeOptions options);  // setRuntime() without the error boundary
  struct Impl;
  explicit DynamicModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyndnn
