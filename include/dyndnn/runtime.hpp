#pragma once
/// \file runtime.hpp
/// The runtime manager: the application states a Target (latency budget or frame rate, minimum accuracy, power
/// cap, objective); the manager picks an operating point (sub-network) and a hardware state for every frame from
/// a Profile (latency and power per operating point x hardware state), corrected online by a slowdown estimator
/// that notices contention, throttling or a frequency cap within a few frames.
///
/// Everything here is free of LibTorch (it links only dyndnn_hw), so it runs on simulated platforms and in
/// tests without a model. DynamicModel::setRuntime()/setTarget() tie it to a model.
///
/// Thread safety, per class: Target, Profile, LatencyPredictor and SlowdownEstimator are plain values (const
/// methods safe concurrently, mutation needs external synchronisation). Policy objects are driven by one
/// RuntimeManager and are not thread-safe on their own. RuntimeManager and HardwareArbiter are thread-safe: every
/// public method takes an internal mutex.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dyndnn/estimators.hpp"
#include "dyndnn/hw/governor.hpp"

namespace dyndnn::runtime {

using hw::HardwareState;

/// What the constraints leave free is spent on this.
enum class Objective { MostAccuracy, LeastEnergy };

/// The application's goals; any subset. Give latency_ms or fps (not both); fps implies a budget of 1000/fps ms
/// and a frame period used for idle energy.
struct Target {
  std::optional<double> latency_ms;    ///< per-frame latency budget
  std::optional<double> fps;           ///< frame rate (budget 1000/fps ms)
  std::optional<double> min_accuracy;  ///< top-1 percent, 0..100
  std::optional<double> power_w;       ///< cap on device power while inferring
  Objective objective = Objective::MostAccuracy;
  double confidence = 0.95;            ///< probability with which the budget must be met (0.5..0.9999)

  /// Throws InvalidArgument (naming the field and the value) for NaN/infinite, zero or negative values, both
  /// latency_ms and fps, or a confidence outside 0.5..0.9999.
  void validate() const;
  /// The per-frame budget in ms, if any.
  std::optional<double> budgetMs() const;
  std::string describe() const;
};

/// One row of the lookup table: an operating point on one hardware state.
struct ProfileEntry {
  std::string op;            ///< operating point name
  HardwareState hw;          ///< knob -> level ("threads", "simulated.cpu.freq", ...)
  double macs = 0;           ///< of the operating point
  double accuracy = 0;       ///< top-1 percent (0 when unknown)
  double latency_ms = 0;     ///< mean
  double latency_std_ms = 0; ///< spread over repeated runs
  double power_w = 0;        ///< device power while running (0 when unmeasured)
  double idle_power_w = 0;   ///< device power while idle on this hardware state (0 when unmeasured)
  bool predicted = false;    ///< from the fitted predictor, not measured

  /// What "more accurate" means to the policies: the top-1 accuracy where the package gives one; where it does not
  /// (random-weight benchmark packages), log2 of the MACs, ranked below every known accuracy (negative), since a
  /// supernet's sub-networks gain accuracy with their size (Dynamic-OFA's levels are in that order).
  double accuracyRank() const;
};

/// Lookup table of latency and power per operating point x hardware state.
class Profile {
 public:
  std::string device;        ///< where it was measured ("simulated ..." for the simulated platforms)
  std::string model;         ///< package path or name
  bool simulated = false;
  std::vector<ProfileEntry> entries;

  /// JSON (format "dyndnn-profile", version 1). save() writes atomically (temp file + rename).
  /// load() throws IoError (unreadable) or InvalidArgument (malformed, naming the field and the entry).
  static Profile load(const std::string& path);
  void save(const std::string& path) const;
  std::string toJson() const;
  static Profile fromJson(const std::string& text, const std::string& where = "profile");

  /// Index of the entry for (op, hw), or -1.
  int find(const std::string& op, const HardwareState& hw) const;
  /// Distinct operating points, in order of first appearance.
  std::vector<std::string> operatingPoints() const;
  /// Distinct hardware states, in order of first appearance.
  std::vector<HardwareState> hardwareStates() const;
};

/// Latency from MACs and frequency, fitted by least squares (Eigen):
///   t = a + b * macs + c * macs / f + d / f      (f in GHz-like units of the named knob, 1 when absent)
/// per thread count when the "threads" knob is present (one coefficient set per thread count).
struct PredictorQuality {
  std::size_t train = 0, held_out = 0;
  double mean_abs_pct_error = 0, max_abs_pct_error = 0;  ///< on the held-out entries
};

class LatencyPredictor {
 public:
  /// `freq_knob`: the knob whose level is the frequency ("" when there is none). Throws InvalidArgument when
  /// there are fewer measured entries than coefficients for some thread count.
  static LatencyPredictor fit(const std::vector<ProfileEntry>& measured, const std::string& freq_knob);
  double predictMs(double macs, const HardwareState& hw) const;
  /// Fits on `train`, reports the error on `held_out`.
  static PredictorQuality evaluate(const std::vector<ProfileEntry>& train, const std::vector<ProfileEntry>& held_out,
                                   const std::string& freq_knob);
  /// Completes `profile`: every (op, hw) pair missing from it gets a predicted entry.
  void fillMissing(Profile& profile) const;
  const std::string& freqKnob() const { return freq_knob_; }

 private:
  std::string freq_knob_;
  std::map<std::int64_t, std::vector<double>> coef_;  // threads -> coefficients
  double freq_scale_ = 1;
};

/// A shared knob another running model holds at `level` or higher during this frame (the arbiter's raise): an
/// entry with `knob` below `level` would run faster than profiled. Applies to entries that agree with `where`
/// (that model's exclusive resources, e.g. its cluster) on every knob both have.
struct KnobFloor {
  std::string knob;
  std::int64_t level = 0;
  HardwareState where;
  /// `hw` (an entry's hardware) runs on the resource the floor was set on.
  bool sameResource(const HardwareState& hw) const;
};

class KnobColumns;  // internal (src/runtime/knob_columns.hpp): a profile's knob levels as one flat table

/// What a policy is told about the situation.
struct PolicyContext {
  const Profile* profile = nullptr;
  const Target* target = nullptr;
  const SlowdownEstimator* slowdown = nullptr;
  int current = -1;                     ///< entry index in use (-1 before the first frame)
  std::uint64_t frame = 0;
  std::uint64_t frames_since_switch = 0;
  /// The first frame on a new entry over a steady one on it (cold caches, a resized thread team), learned from
  /// the switches so far (1 before any): a voluntary switch is taken only when that frame fits the budget.
  double switch_penalty = 1;
  LatencyWindow recent_latency_ms;      ///< newest last
  double utilisation = 0;               ///< busy share of the last frame period (Linux-governor baselines)
  /// Restriction from the arbiter: knobs fixed to these levels for this model (entries disagreeing are out).
  HardwareState granted;
  /// Knobs the arbiter fixed; entries must match them.
  std::vector<std::string> fixed_knobs;
  /// Shared knobs held up by other running models for this frame (`floor_count` of them, valid during decide());
  /// the manager's policy keeps to entries at or above them (all entries when none is).
  const KnobFloor* floors = nullptr;
  std::size_t floor_count = 0;
  /// Slowdown (mean, variance) to apply to an entry on `hw`; when empty, `slowdown` applies to every entry.
  std::function<std::pair<double, double>(const HardwareState&)> slowdown_for;
  /// The target's confidence quantile of observed / predicted latency (the slowdown estimate at the time) over
  /// the newest frames on `hw`'s thread count, since the last level change the estimator detected (0 while too
  /// few or stale): stalls that come every few frames (a core shared with a busy process: one frame in six waits
  /// out the other's time slice) are outliers to the estimator and miss the budget at a rate the mean never shows.
  std::function<double(const HardwareState&)> tail_ratio_for;
  /// Per profile entry (empty: 1 for all): its own latency over its profile's at the device's current slowdown,
  /// learned on its first steady frames after each switch to it. A small operating point can run 1.65x its
  /// profile while a large one runs at its own (fixed per-frame costs the profile does not show); without this
  /// the small point's frames would read as the whole device slowing down and keep the large ones out of reach.
  /// The slowdown estimators see each frame divided by its entry's factor, so they track the device alone.
  const std::vector<double>* entry_bias = nullptr;
  /// `profile`'s knob levels as one flat table, built once by the manager (its profile never changes); null in a
  /// context made by hand, where the manager's policy builds one per decision.
  const KnobColumns* knob_columns = nullptr;
};

enum Unmet : unsigned { kUnmetNone = 0, kUnmetLatency = 1, kUnmetAccuracy = 2, kUnmetPower = 4 };

struct Decision {
  int entry = -1;                 ///< index into the profile
  /// One line: why this entry. Built when the decision changes and shared by the frames that repeat it (a
  /// steady frame formats no text); null when the policy gives none. reasonText() reads it.
  std::shared_ptr<const std::string> reason;
  unsigned unmet = kUnmetNone;    ///< constraints the choice is predicted to miss (best effort)
  double predicted_ms = 0;        ///< slowdown-corrected mean
  double predicted_quantile_ms = 0;
  double predicted_energy_j = 0;  ///< per frame (with idle power over the frame period when known)
  const std::string& reasonText() const;
};

std::string unmetToString(unsigned unmet);

/// Chooses an entry for the next frame.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  virtual Decision decide(const PolicyContext& ctx) = 0;
};

/// The manager's own policy. Among entries allowed by the context: keep those predicted (slowdown-corrected,
/// with the target's confidence) to meet the budget, the power cap and the accuracy floor; then MostAccuracy
/// takes the most accurate and breaks ties by least energy, LeastEnergy takes the least energy. When nothing is
/// feasible, constraints are relaxed in this order (best effort, reported in Decision::unmet): accuracy floor
/// first, then the latency budget (fastest entry under the power cap), then the power cap (lowest power).
/// Hysteresis: the current entry is kept while it stays feasible unless the best one is better by more than
/// `accuracy_margin` points or `energy_margin` (relative); at most one voluntary switch per `min_switch_frames`
/// frames, and only when the first frame on the new entry (predicted mean x PolicyContext::switch_penalty) fits
/// the budget. A current entry predicted to miss a constraint is left at once (the rate limit does not apply).
struct ManagerOptions {
  double accuracy_margin = 0.05;
  double energy_margin = 0.05;
  int min_switch_frames = 5;
};
std::unique_ptr<Policy> makeManagerPolicy(ManagerOptions options = {});

/// Always the same entry (op on hw).
std::unique_ptr<Policy> makeFixedPolicy(std::string op, HardwareState hw);

/// Dynamic-OFA's manager over levels (operating points sorted by accuracy, on one hardware state): one level
/// down when the mean of the last `window` latencies exceeds the budget, one level up while accuracy is below
/// the floor (no floor: the top level) and that mean is within budget; after a step, no step for `window`
/// frames (its lock against oscillation).
std::unique_ptr<Policy> makeHillClimbPolicy(HardwareState hw, int window = 20);

/// Linux cpufreq governors driving the frequency knob `freq_knob` for a fixed operating point, with the
/// kernel's formulas (see LinuxGovernor).
enum class LinuxGovernorKind { Performance, Powersave, Ondemand, Schedutil };

/// The kernel's frequency selection. Frequencies ascending. `util` is the CPU's utilisation in 0..1 as each
/// governor measures it: ondemand's load (busy share of wall time in the sampling window, not frequency
/// invariant); schedutil's PELT util_avg (frequency invariant: busy time scaled by cur/max frequency, decaying
/// with a 32 ms half-life).
///  performance: max. powersave: min.
///  ondemand (od_update): load > up_threshold (80%) -> max; else min + load * (max - min), lowest level >= that.
///  schedutil (get_next_freq): 1.25 * max * util, lowest level >= that (capped at max).
std::int64_t linuxGovernorFrequency(LinuxGovernorKind kind, const std::vector<std::int64_t>& levels, double util,
                                    double up_threshold = 0.80);
/// PELT: decay per 1 ms period y with y^32 = 1/2; util' = util * y^ms + busy_share * (1 - y^ms).
double peltUpdate(double util, double busy_share, double ms);

std::unique_ptr<Policy> makeLinuxGovernorPolicy(LinuxGovernorKind kind, std::string op, HardwareState hw,
                                                std::string freq_knob);
std::string toString(LinuxGovernorKind kind);

/// One frame as the manager saw it.
struct FrameRecord {
  std::uint64_t frame = 0;
  std::string op;
  HardwareState hw;
  double latency_ms = 0;
  double energy_j = -1;     ///< -1 when unmetered
  double predicted_ms = 0, predicted_quantile_ms = 0;
  double slowdown = 1, slowdown_var = 0;
  double bias = 1;  ///< the entry's own factor on its profile latency (PolicyContext::entry_bias)
  bool switched = false;
  bool met_budget = true;
  unsigned unmet = 0;
  std::string reason;
};

struct ManagerStats {
  std::uint64_t frames = 0, switches = 0, budget_misses = 0, jumps_detected = 0;
  bool suspended = false;
  std::string policy;
  std::string current_op;
  HardwareState current_hw;
  unsigned unmet = 0;
  double slowdown = 1, slowdown_std = 0;
  double switch_penalty = 1;  ///< see PolicyContext::switch_penalty
  std::uint64_t probes = 0;   ///< frames spent trying a better entry the estimates had ruled out
  double energy_j = 0;  ///< metered total
  std::string last_reason;
};

/// Drives one model: before() picks (op, hw) for the next frame, after() feeds back what was measured.
/// Applying the choice is the caller's (DynamicModel::infer() applies it to the model and the Governor).
class RuntimeManager {
 public:
  RuntimeManager(Profile profile, Target target, std::unique_ptr<Policy> policy = nullptr);
  ~RuntimeManager();

  /// Validates (InvalidArgument) and resumes a suspended manager.
  void setTarget(const Target& target);
  Target target() const;
  /// Manual control: decisions stop until setTarget() is called again.
  void suspend();
  bool suspended() const;

  /// The entry for the next frame (the previous one while suspended).
  Decision before();
  /// The same, for a frame during which other running models hold shared knobs at `floors` (the arbiter's
  /// decide()): one decision, so a stateful policy advances one frame.
  Decision before(const KnobFloor* floors, std::size_t count);
  /// Measured latency (and energy, < 0 when unmetered) of the frame decided by the last before().
  /// utilisation: busy share of the frame period, for the Linux-governor baselines (0 when unknown).
  void after(double latency_ms, double energy_j = -1, double utilisation = 0);

  /// Slowdown per placement: thread count and, when the profile has the "affinity" knob, CPU set (off by default:
  /// one factor for everything, as ALERT). Another process that takes a core slows a thread count that no longer
  /// finds a free core, or one thread pinned to that core, far more than one that does, which a single factor
  /// cannot tell apart. On: each placement has its own estimator; one not observed for `stale_frames`
  /// frames (or never) is predicted with the smaller of its last estimate (prior 1) and the current one, so the
  /// manager tries it again instead of assuming that a slowdown seen on one thread count holds for all. A re-try
  /// that still misses the budget doubles that placement's wait (up to 8 x `stale_frames`): a competitor that
  /// stays costs a frame ever more rarely; observeCpuLoad() ends the wait when the load goes.
  void setSlowdownPerThreads(bool on, int stale_frames = 30);
  /// The load of other processes per CPU (0..1, index = CPU number), as hw::CpuLoadSensor::samplePerCpu() measures
  /// it; DynamicModel's runtime reports it about every 100 ms. Where it falls by more than 0.3 from the highest
  /// since the last fall, estimates learned under that load are out of date: every placement that may run on
  /// such a CPU (its affinity mask, or any placement without one), but the current one, becomes stale at once
  /// with its wait restarted, and so do the probes. A rise needs nothing: the next frames show it.
  void observeCpuLoad(const std::vector<double>& others);
  /// Arbiter restriction (knobs fixed to levels for this model); an empty state lifts it.
  void restrict(const HardwareState& granted);
  /// What the manager's own policy would choose under `granted`, ignoring hysteresis (for the arbiter).
  Decision evaluate(const HardwareState& granted) const;
  const Profile& profile() const;
  /// Counters, the current choice and its slowdown estimate (a copy, taken under the manager's lock).
  ManagerStats stats() const;
  /// Called after every frame (outside the lock is not guaranteed: do not call back into the manager).
  void onFrame(std::function<void(const FrameRecord&)> callback);
  /// Keep the newest `max_records` FrameRecords for trace()/writeTrace() (default on, 1,000 frames: about 0.5 MB,
  /// so a host that runs for hours holds a bounded window, not its whole history). Record a whole run by raising
  /// the bound; off keeps none (onFrame() still sees every frame).
  static constexpr std::size_t kDefaultTraceFrames = 1000;
  void keepTrace(bool on, std::size_t max_records = kDefaultTraceFrames);
  std::vector<FrameRecord> trace() const;
  /// JSON: {"target":..., "policy":..., "profile_device":..., "frames":[...], "stats":{...}}; atomic write.
  void writeTrace(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What a model's runtime joins to share the device with other models. Two implementations: HardwareArbiter (the
/// models of one process) and daemon::RemoteArbiter (dyndnn/daemon.hpp: models in several processes, through
/// the device's dyndnnd). DynamicModel::setRuntime() takes either (RuntimeOptions::arbiter).
class Arbiter {
 public:
  struct Registration {
    std::string name;
    int priority = 0;
    std::shared_ptr<RuntimeManager> manager;
    /// Alternative exclusive assignments (knob -> level); empty: the model may use any entry.
    std::vector<HardwareState> placements;
    /// Resource a placement occupies exclusively: the value of this knob in the placement ("" = none).
    std::string exclusive_knob;
  };
  Arbiter() = default;
  Arbiter(const Arbiter&) = delete;
  Arbiter& operator=(const Arbiter&) = delete;
  virtual ~Arbiter() = default;
  /// Returns an id. Throws InvalidArgument for a null manager or a duplicate name.
  virtual int add(Registration registration) = 0;
  virtual void remove(int id) = 0;
  /// Recompute the placements and restrict each model's manager to its own.
  virtual void rearbitrate() = 0;
  /// One model's next decision (call it where that model would call RuntimeManager::before()).
  virtual Decision decide(int id) = 0;
  /// The model finished its frame.
  virtual void done(int id) = 0;
  virtual HardwareState granted(int id) const = 0;
};

/// Best first: the placements under which `manager` meets its target (fewest unmet goals), then the most accurate
/// (MostAccuracy) or the least energy (LeastEnergy) entry it would choose there. A placement no profile entry fits
/// is left out. Returns (index into `placements`, the manager's decision there).
std::vector<std::pair<std::size_t, Decision>> rankPlacements(const RuntimeManager& manager,
                                                             const std::vector<HardwareState>& placements);

/// One arbiter per process: hardware knobs are shared (frequency is per cluster, cores are finite), so models
/// register with it and it decides the hardware; each model's own manager then picks its operating point within
/// what it was granted.
///
/// Each registered model names the knobs it may be granted exclusively (`placements`: alternative hardware
/// assignments, e.g. {"core": big cluster} / {"core": little cluster}); knobs that several models share
/// (`shared_knobs`, e.g. a cluster's frequency) are set to the highest level any model sharing them needs.
/// Arbitration (rearbitrate()): models in priority order (higher first; ties by registration) take the placement
/// under which their target is feasible at the least energy, no two models taking the same exclusive resource;
/// then every shared knob is set to the maximum over the models that need it, and each model is restricted to
/// that. A single model gets exactly what its own manager would choose.
class HardwareArbiter : public Arbiter {
 public:
  explicit HardwareArbiter(std::shared_ptr<hw::Governor> governor = nullptr);
  /// Returns an id. Throws InvalidArgument for a null manager or a duplicate name.
  int add(Registration registration) override;
  void remove(int id) override;
  /// Recompute the placements (by priority) and restrict each model's manager to its own. All or nothing: when
  /// some model gets no placement it throws InvalidArgument and every grant stays as it was.
  void rearbitrate() override;
  /// One model's next decision (call it where that model would call RuntimeManager::before()): chosen within
  /// its placement, among entries whose shared knobs are at least at the levels models still running hold (the
  /// hardware will be at least that fast: it may afford a better operating point), in one call of the manager's
  /// before(), so a stateful policy advances one frame per frame.
  /// Applies the shared knobs to the governor when there is one. Throws InvalidArgument for an unknown id/name.
  Decision decide(int id) override;
  Decision decide(const std::string& name);
  /// The model finished its frame: its hardware needs lapse until its next decide().
  void done(int id) override;
  void done(const std::string& name);
  HardwareState granted(int id) const override;
  /// The placement granted to the model registered as `name` (InvalidArgument when there is none).
  HardwareState granted(const std::string& name) const;
  std::vector<int> ids() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<hw::Governor> governor_;
  std::map<int, Registration> models_;
  std::map<int, HardwareState> granted_;
  // Per model, the hardware of its last decision and whether its frame is running (kept, not erased, between
  // frames: a steady frame reassigns in place and allocates nothing).
  struct Need {
    bool running = false;
    HardwareState hw, where;  // where: its values of the exclusive knobs
  };
  std::map<int, Need> needs_;
  std::set<std::string> exclusive_;               // every registered model's exclusive knob
  std::vector<std::string> governor_knobs_;       // the governor's knob names (fixed for its lifetime)
  std::vector<KnobFloor> floors_;                 // scratch of decideLocked, reused
  HardwareState apply_;                           // scratch of decideLocked, reused
  int next_id_ = 1;
  int idOf(const std::string& name) const;
  Decision decideLocked(int id);
  void updateExclusive();
};

}  // namespace dyndnn::runtime
