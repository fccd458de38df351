// dyndnnd's costs and the two-workload run as two processes (benchmarks/run_daemon.py drives both).
//
//   bench_daemon roundtrip SOCKET [N]
//     against a running dyndnnd: the round trip of a claim (send, arbitration, knob write, grant back), the time
//     from one client's need() to another client's pushed grant, and what a frame pays when nothing arrived
//     (RemoteArbiter::decide's poll), beside the floor of any round trip here (64 bytes to a forked echo process
//     over a Unix socket). N of each (default 2000); medians and p99 in us, JSON on stdout.
//   bench_daemon workload SOCKET|none NAME PRIORITY BUDGET_MS FRAMES PROFILE PACKAGE JSON_OUT
//     one model as one process: joins dyndnnd at SOCKET (or, with "none", its own manager chooses the cores
//     alone), a frame every BUDGET_MS (late frames start at once), FRAMES frames; writes frames within budget,
//     latency median / p95, switches, mean profile top-1, the cores it ran on and its CPU time.

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/dyndnn.hpp"
#include "dyndnn/hw/affinity.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace rt = dyndnn::runtime;
using dyndnn::hw::knobs::kAffinity;

namespace {

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

json summary(std::vector<double> v) {
  return {{"median_us", bench::median(v)}, {"p99_us", bench::percentile(v, 0.99)}, {"n", v.size()}};
}

// The floor of any cross-process round trip here: 64 bytes to a forked echo process over a Unix socket and back.
std::vector<double> echoRoundTrips(int n) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) throw dyndnn::HardwareError("socketpair failed");
  const pid_t pid = fork();
  char buf[64] = {};
  if (pid == 0) {
    close(sv[0]);
    while (read(sv[1], buf, sizeof buf) == sizeof buf && write(sv[1], buf, sizeof buf) == sizeof buf) {
    }
    _exit(0);
  }
  close(sv[1]);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    if (write(sv[0], buf, sizeof buf) != sizeof buf || read(sv[0], buf, sizeof buf) != sizeof buf)
      throw dyndnn::HardwareError("echo failed");
    out.push_back(us(Clock::now() - t0));
  }
  close(sv[0]);
  waitpid(pid, nullptr, 0);
  return out;
}

int roundtrip(const std::string& socket, int n) {
  namespace d = dyndnn::daemon;
  auto a = d::Client::connect(socket, "bench-a", 1);
  auto b = d::Client::connect(socket, "bench-b", 0);
  const auto& knob = a->welcome().knobs.at(0);
  const std::int64_t lo = knob.levels.front(), hi = knob.levels.back();
  d::Claim claim;
  claim.exclusive_knob = kAffinity;
  claim.placements = {{{kAffinity, 1}}, {{kAffinity, 2}}};
  b->claim(claim);
  std::vector<double> claim_us, push_us, poll_us;
  std::int64_t level = lo;
  auto flip = [&] { return level = level == lo ? hi : lo; };  // every message changes the knob
  for (int i = 0; i < n; ++i) {
    claim.shared = {{knob.name, flip()}};
    const auto t0 = Clock::now();
    a->claim(claim);
    claim_us.push_back(us(Clock::now() - t0));
  }
  b->poll(std::chrono::milliseconds(100));  // drain what the claims pushed to b
  while (b->poll()) {
  }
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    a->need({{knob.name, flip()}});
    const auto g = b->poll(std::chrono::milliseconds(1000));
    push_us.push_back(us(Clock::now() - t0));
    if (!g) throw dyndnn::HardwareError("no grant was pushed within 1 s");
    a->poll();  // a's own answer
  }
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    b->poll();
    poll_us.push_back(us(Clock::now() - t0));
  }
  std::cout << json{{"echo_round_trip_floor", summary(echoRoundTrips(n))},
                    {"claim_round_trip", summary(claim_us)},
                    {"need_to_pushed_grant", summary(push_us)},
                    {"frame_poll_nothing_new", summary(poll_us)}}
                   .dump(1)
            << "\n";
  return 0;
}

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int workload(char** a) {
  const std::string socket = a[0], name = a[1];
  const int priority = std::stoi(a[2]);
  const double budget_ms = std::stod(a[3]);
  const int frames = std::stoi(a[4]);
  const rt::Profile profile = rt::Profile::load(a[5]);
  auto model = dyndnn::DynamicModel::load(a[6], {});
  dyndnn::RuntimeOptions o;
  o.profile = profile;
  o.governor = dyndnn::hw::makeAffinityGovernor();  // its own threads' cores: all a client sets itself
  std::vector<rt::HardwareState> placements;  // one core each: the exclusive resources to share out
  for (const auto& e : profile.entries)
    if (e.hw.count(kAffinity) && __builtin_popcountll(e.hw.at(kAffinity)) == 1 && std::find(placements.begin(), placements.end(),
                                          rt::HardwareState{{kAffinity, e.hw.at(kAffinity)}}) == placements.end())
      placements.push_back({{kAffinity, e.hw.at(kAffinity)}});
  if (socket != "none") {
    o.arbiter = dyndnn::daemon::connectArbiter(socket);
    o.registration = {name, priority, nullptr, placements, kAffinity};
  }
  model.setRuntime(std::move(o));
  auto manager = model.runtimeManager();
  manager->keepTrace(true, static_cast<std::size_t>(frames) + 10);
  manager->setSlowdownPerThreads(true);
  rt::Target t;
  t.latency_ms = budget_ms;
  model.setTarget(t);
  std::vector<std::uint8_t> pixels(28 * 28);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>((i * 37) % 251);
  const dyndnn::ImageView image{pixels.data(), 28, 28, 1, 0};
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(budget_ms));
  const double cpu0 = cpuSeconds();
  const auto start = Clock::now();
  for (int i = 0; i < frames; ++i) {
    std::this_thread::sleep_until(start + i * period);
    (void)model.infer(image);
  }
  const double cpu = cpuSeconds() - cpu0;
  std::vector<double> lat;
  int within = 0;
  double acc = 0;
  std::map<std::string, int> cores;
  for (const auto& r : manager->trace()) {
    lat.push_back(r.latency_ms);
    within += r.latency_ms <= budget_ms;
    acc += profile.entries[static_cast<std::size_t>(profile.find(r.op, r.hw))].accuracy;
    if (auto it = r.hw.find(kAffinity); it != r.hw.end())
      ++cores[fmt::format("{}", fmt::join(dyndnn::hw::cpusOfMask(it->second), ","))];
  }
  const double n = std::max<double>(1, static_cast<double>(lat.size()));
  const json out = {{"name", name},           {"arbiter", socket == "none" ? "own manager" : "dyndnnd"},
                    {"budget_ms", budget_ms}, {"frames", lat.size()},
                    {"within_budget", within / n}, {"median_ms", bench::median(lat)},
                    {"p95_ms", bench::percentile(lat, 0.95)}, {"switches", manager->stats().switches},
                    {"mean_profile_accuracy", acc / n}, {"cpus", cores}, {"cpu_s", cpu}};
  std::ofstream(a[7]) << out.dump(1) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "roundtrip" && argc >= 3) return roundtrip(argv[2], argc > 3 ? std::stoi(argv[3]) : 2000);
    if (mode == "workload" && argc == 10) return workload(argv + 2);
    std::cerr << "usage: see the comment at the top of " << __FILE__ << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_daemon: " << e.what() << "\n";
    return 1;
  }
}
