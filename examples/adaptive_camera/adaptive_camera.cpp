// adaptive_camera: a camera loop whose situation changes while it runs, with dyndnn's runtime manager choosing
// the sub-network and thread count for every frame.
//
// Scenario (each phase --phase-frames frames, paced at the camera's rate, --fps): each frame's inference has a
// latency budget (the part of the frame period the application gives the network) set so that the most accurate
// operating point just fits where it runs best (two threads, where they help); then a competing process takes a
// core the model uses (a busy loop this program starts, pinned to one CPU); then it stops; then the budget
// tightens. A live status line shows fps, latency, operating point, threads and what the manager is doing; at the
// end a per-phase summary is printed, the run is written as JSON and plotted (PNG, with Debian's
// python3-matplotlib). A package without accuracies (a random-weight benchmark package) is ranked by MACs.
//
// Usage: adaptive_camera [MODEL.dyn] [--video FILE|CAMERA_INDEX] [--data DIR] [--fps F] [--phase-frames N]
//                        [--trace run.json] [--plot run.png] [--quiet]
#include <dyndnn/dyndnn.hpp>

#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "frame_source.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string model = "models/fmnist_ofa_mbv3.dyn", video, data = "/usr/share/datasets/fashion-mnist";
  std::string trace = "adaptive_camera.json", plot = "adaptive_camera.png";
  int phase_frames = 300;
  double fps = 60;  // the camera's frame rate; 0: no camera pacing, the next frame as soon as one is done
  bool quiet = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw dyndnn::InvalidArgument("adaptive_camera: " + s + " needs a value");
      return argv[++i];
    };
    if (s == "--video") a.video = value();
    else if (s == "--data") a.data = value();
    else if (s == "--phase-frames") a.phase_frames = std::stoi(value());
    else if (s == "--fps") a.fps = std::stod(value());
    else if (s == "--trace") a.trace = value();
    else if (s == "--plot") a.plot = value();
    else if (s == "--quiet") a.quiet = true;
    else if (s == "-h" || s == "--help") throw dyndnn::InvalidArgument("usage: adaptive_camera [MODEL.dyn] [--video FILE|N] "
                                                                      "[--data DIR] [--fps F] [--phase-frames N] [--trace J] [--plot P]");
    else if (!s.empty() && s[0] != '-') a.model = s;
    else throw dyndnn::InvalidArgument("adaptive_camera: unknown option " + s + " (see --help)");
  }
  if (a.phase_frames < 10) throw dyndnn::InvalidArgument("adaptive_camera: --phase-frames must be >= 10");
  if (!(a.fps >= 0) || a.fps > 100000) throw dyndnn::InvalidArgument("adaptive_camera: --fps must be in 0..100000 (0: unpaced)");
  return a;
}

// Another application taking one core: a child process spinning on the last CPU we may use. It dies with us.
class CompetingLoad {
 public:
  void start() {
    cpu_set_t mine;
    sched_getaffinity(0, sizeof(mine), &mine);
    int cpu = 0;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &mine)) cpu = c;
    pid_ = fork();
    if (pid_ == 0) {  // child: only system calls from here on
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      sched_setaffinity(0, sizeof(one), &one);
      for (volatile unsigned long x = 0;; x = x + 1) {
      }
    }
    if (pid_ < 0) throw dyndnn::Error("adaptive_camera: fork failed: cannot start the competing load");
  }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  ~CompetingLoad() { stop(); }

 private:
  pid_t pid_ = -1;
};

struct Phase {
  std::string name;
  double budget_ms;
  bool load;
};

struct Frame {
  double t_s, latency_ms, budget_ms, worth;  // worth: the operating point's top-1, or its MMACs without one
  int phase, threads;
  std::string op;
};

// Fastest profiled latency of an operating point over the hardware states.
double bestLatency(const dyndnn::runtime::Profile& p, const std::string& op) {
  double best = 1e300;
  for (const auto& e : p.entries)
    if (e.op == op) best = std::min(best, e.latency_ms);
  return best;
}

// worth: "accuracy" (top-1 %) or "MMACs" (a package without accuracies); fps 0 = unpaced.
void writeTrace(const std::string& path, const std::vector<Phase>& phases, const std::vector<Frame>& frames,
                const std::string& model, const std::string& worth, double fps) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw dyndnn::IoError("adaptive_camera: cannot write " + path);
  std::fprintf(f, "{\"model\": \"%s\", \"worth\": \"%s\", \"fps\": %.3f, \"phases\": [", model.c_str(), worth.c_str(), fps);
  for (std::size_t i = 0; i < phases.size(); ++i)
    std::fprintf(f, "%s{\"name\": \"%s\", \"budget_ms\": %.4f, \"load\": %s}", i ? ", " : "", phases[i].name.c_str(),
                 phases[i].budget_ms, phases[i].load ? "true" : "false");
  std::fprintf(f, "],\n\"frames\": [\n");
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto& x = frames[i];
    std::fprintf(f, "%s{\"t\": %.6f, \"phase\": %d, \"latency_ms\": %.4f, \"budget_ms\": %.4f, \"op\": \"%s\", "
                    "\"worth\": %.2f, \"threads\": %d}", i ? ",\n" : "", x.t_s, x.phase, x.latency_ms,
                 x.budget_ms, x.op.c_str(), x.worth, x.threads);
  }
  std::fprintf(f, "]}\n");
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  auto model = dyndnn::DynamicModel::load(args.model);
  auto frames = openFrameSource(args.video, args.data, model.info().input.channels);
  if (model.operatingPoints().size() < 2)
    throw dyndnn::InvalidArgument("adaptive_camera: " + args.model + " has fewer than 2 operating points");
  // What each operating point is worth to the user: its top-1, or (a package without accuracies, such as a
  // random-weight benchmark package) its MACs, which is what the manager then ranks by.
  bool has_accuracy = true;
  for (const auto& op : model.operatingPoints()) has_accuracy = has_accuracy && op.metrics.accuracy.has_value();
  std::map<std::string, double> worth;
  for (const auto& op : model.operatingPoints())
    worth[op.name] = has_accuracy ? *op.metrics.accuracy : static_cast<double>(op.metrics.macs) / 1e6;
  const char* worth_name = has_accuracy ? "accuracy" : "MMACs";

  std::cerr << "frames: " << frames->describe() << "\n";
  if (!has_accuracy)
    std::cerr << "this package gives no accuracies (random weights?): latency is real, predictions are not; "
                 "operating points are ranked by MACs\n";
  std::cerr << "measuring the operating points on this device...\n";
  model.setRuntime({});  // measures latency per operating point x thread count, here and now
  const auto& profile = model.runtimeManager()->profile();
  auto by_worth = model.operatingPoints();
  std::sort(by_worth.begin(), by_worth.end(), [&](const auto& a, const auto& b) { return worth[a.name] < worth[b.name]; });
  // Latency budgets: the most accurate point just fits where it runs best; later, one in the middle of the front
  // does. The profile runs frames back to back; a frame after the camera's pause runs cold (1.3-2x slower for
  // the sub-millisecond shipped model here), hence the middle point's margin. A camera period shorter than a
  // budget is the budget (each frame done before the next).
  const double period = args.fps > 0 ? 1000.0 / args.fps : 0.0;
  const auto within_period = [&](double ms) { return period > 0 ? std::min(ms, period) : ms; };
  const double relaxed = within_period(1.3 * bestLatency(profile, by_worth.back().name));
  const double middle = bestLatency(profile, by_worth[by_worth.size() / 2].name);
  const double tight = within_period(std::min(0.8 * relaxed, (period > 0 ? 2.0 : 1.3) * middle));
  const std::vector<Phase> phases{{"steady", relaxed, false}, {"competing load", relaxed, true},
                                  {"load gone", relaxed, false}, {"tighter budget", tight, false}};

  CompetingLoad load;
  std::vector<Frame> log;
  const auto start = Clock::now();
  for (std::size_t p = 0; p < phases.size(); ++p) {
    const Phase& ph = phases[p];
    dyndnn::runtime::Target target;
    target.latency_ms = ph.budget_ms;  // the share of the camera's period the application gives the network
    model.setTarget(target);
    if (ph.load) load.start();
    const auto step = std::chrono::microseconds(static_cast<long>((period > 0 ? period : ph.budget_ms) * 1000));
    auto next = Clock::now();
    auto last_status = Clock::now();
    int in_budget = 0;
    for (int i = 0; i < args.phase_frames; ++i) {
      std::this_thread::sleep_until(next);  // wait for the camera's next frame
      next += step;
      const dyndnn::ImageView image = frames->next();
      const auto t0 = Clock::now();
      (void)model.infer(image);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      const std::string op = model.activeName();
      log.push_back({std::chrono::duration<double>(t0 - start).count(), ms, ph.budget_ms, worth[op],
                     static_cast<int>(p), model.threads(), op});
      in_budget += ms <= ph.budget_ms;
      if (Clock::now() > next) next = Clock::now();  // a late frame: the camera does not queue frames up
      if (!args.quiet && Clock::now() - last_status > std::chrono::milliseconds(200)) {
        last_status = Clock::now();
        // What the manager is doing and why: the reason's head ("hold (switch-rate limit)", "best effort: ...").
        const std::string reason = model.runtimeStats().last_reason;
        const std::string why = reason.substr(0, std::min<std::size_t>(reason.find(':'), 60));
        std::fprintf(stderr, "\r[%zu/4 %-14s] %6.3f ms (budget %.3f) | %-8s %s %.2f threads=%d | in budget %5.1f%% | %-60s",
                     p + 1, ph.name.c_str(), ms, ph.budget_ms, op.c_str(), worth_name, worth[op], model.threads(),
                     100.0 * in_budget / (i + 1), why.c_str());
      }
    }
    if (ph.load) load.stop();
  }
  if (!args.quiet) std::fprintf(stderr, "\n");

  if (period > 0) std::printf("camera: %.0f fps (a frame every %.2f ms)\n", args.fps, period);
  else std::printf("camera: unpaced (the next frame when one is done)\n");
  std::printf("%-15s %9s %10s %10s %9s %12s\n", "phase", "budget", "in budget", worth_name, "switches", "2 threads");
  for (std::size_t p = 0; p < phases.size(); ++p) {
    int n = 0, ok = 0, switches = 0, two = 0;
    double w = 0;
    std::string prev;
    for (const auto& f : log) {
      if (f.phase != static_cast<int>(p)) continue;
      ++n;
      ok += f.latency_ms <= f.budget_ms;
      w += f.worth;
      two += f.threads >= 2;
      switches += !prev.empty() && f.op != prev;
      prev = f.op;
    }
    std::printf("%-15s %6.3f ms %9.1f%% %10.2f %9d %11.0f%%\n", phases[p].name.c_str(), phases[p].budget_ms,
                100.0 * ok / n, w / n, switches, 100.0 * two / n);
  }
  writeTrace(args.trace, phases, log, args.model, worth_name, args.fps);
  std::printf("trace: %s\n", args.trace.c_str());
  const std::string plot_cmd = "/usr/bin/python3 " DYNDNN_EXAMPLE_DIR "/plot_run.py " + args.trace + " " + args.plot;
  if (std::system(plot_cmd.c_str()) == 0) std::printf("plot: %s\n", args.plot.c_str());
  else std::fprintf(stderr, "no plot: install python3-matplotlib (the trace is in %s)\n", args.trace.c_str());
  return 0;
} catch (const dyndnn::Error& e) {
  std::fprintf(stderr, "\nerror: %s\n", e.what());
  return 1;
}
