// Issue 8, item 5: the hardware is never left changed. A child process applies governor settings in a loop on
// a fake tree and is killed at random points (after a random number of applies, so the signal lands anywhere
// in the loop, including half-way through a write); afterwards every file holds its original bytes.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/governor.hpp"
#include "hw/fake_tree.hpp"
#include "hw/snapshot_diff.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;
using test::FakeTree;
using Files = std::map<std::string, std::string>;

namespace {

std::unique_ptr<Governor> xavierGovernor(const std::string& root, const std::string& state_file = "") {
  GovernorOptions o;
  o.root = root;
  o.state_file = state_file;
  std::vector<std::unique_ptr<Governor>> parts;
  parts.push_back(makeCpufreqGovernor(o));
  parts.push_back(makeDevfreqGovernor(o));
  return makeCompositeGovernor(std::move(parts));
}

// The child: apply ever-changing states forever, one byte on `progress` after each apply.
[[noreturn]] void applyForever(const std::string& root, int progress, bool handle_signals, const std::string& state_file) {
  // Start from the default dispositions, as a host process would; then (opt-in) install dyndnn's handler.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  if (handle_signals) installSignalRestore();
  try {
    auto gov = xavierGovernor(root, state_file);
    const auto knobs = gov->knobs();
    for (std::size_t i = 0;; ++i) {
      HardwareState s;
      for (const auto& k : knobs) s[k.name] = k.levels[(i * 7 + k.name.size()) % k.levels.size()];
      gov->apply(s);
      if (::write(progress, "x", 1) != 1) ::_exit(3);
    }
  } catch (...) {
    ::_exit(4);
  }
}

struct Child {
  pid_t pid;
  int progress;
};

Child spawn(const std::string& root, bool handle_signals, const std::string& state_file = "") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    applyForever(root, fds[1], handle_signals, state_file);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

void waitForApplies(const Child& c, int n) {
  char buf;
  for (int i = 0; i < n; ++i) REQUIRE(::read(c.progress, &buf, 1) == 1);
}

int killAndReap(const Child& c, int sig) {
  ::kill(c.pid, sig);
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  ::close(c.progress);
  return status;
}

}  // namespace

TEST_CASE("a child killed by SIGTERM or SIGINT mid-run leaves every knob as it found it") {
  std::mt19937 rng(20261125);
  for (int sig : {SIGTERM, SIGINT}) {
    for (int trial = 0; trial < 6; ++trial) {
      FakeTree t;
      test::buildXavierNx(t);
      const Files original = t.snapshot();
      const int applies = std::uniform_int_distribution<int>(1, 60)(rng);
      CAPTURE(sig, trial, applies);
      const Child c = spawn(t.root(), true);
      waitForApplies(c, applies);
      const int status = killAndReap(c, sig);
      // The process still dies of the signal (the default action runs after the restore).
      REQUIRE(WIFSIGNALED(status));
      CHECK(WTERMSIG(status) == sig);
      CHECK(test::changedFiles(original, t.snapshot()) == Files{});
    }
  }
}

TEST_CASE("without the opt-in handler a SIGTERM leaves knobs changed (so the handler test can fail)") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  const Child c = spawn(t.root(), false);
  waitForApplies(c, 3);
  const int status = killAndReap(c, SIGTERM);
  REQUIRE(WIFSIGNALED(status));
  CHECK(t.snapshot() != original);
}

namespace {
int applyThenThrow(const std::string& root) {
  try {
    auto gov = xavierGovernor(root);
    gov->apply({{"cpufreq.policy0", 115200}, {"devfreq.gpu", 114750000}});
    throw std::runtime_error("host application failed");
  } catch (const std::runtime_error&) {
    return 7;  // the governor was destroyed while the exception unwound
  }
}
}  // namespace

TEST_CASE("a child that exits through an exception leaves every knob as it found it") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(applyThenThrow(t.root()));
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  CHECK(t.snapshot() == original);
}

TEST_CASE("after SIGKILL - restoreFromStateFile puts every knob back from the state file") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  FakeTree state_dir;
  const std::string state = state_dir.path("hw-state.json");
  const Child c = spawn(t.root(), true, state);
  waitForApplies(c, 5);
  const int status = killAndReap(c, SIGKILL);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(t.snapshot() != original);  // SIGKILL cannot be caught: knobs are left changed

  std::ifstream in(state);
  REQUIRE(in);
  const auto doc = nlohmann::json::parse(in);
  CHECK(doc["format"] == "dyndnn-hw-state");
  CHECK(doc["pid"] == c.pid);
  CHECK(doc["entries"].size() == 8);  // 3 policies x (governor, setspeed) + GPU (governor, set_freq)
  for (const auto& e : doc["entries"]) {
    // "<unsupported>" / "undefined" cannot be written back on a real kernel: those entries are best effort.
    const bool setspeed = e["value"] == "<unsupported>\n" || e["value"] == "undefined\n";
    CHECK(e["best_effort"] == setspeed);
  }

  CHECK(restoreFromStateFile(state) == 8);
  CHECK(test::changedFiles(original, t.snapshot()) == Files{});
  CHECK(::access(state.c_str(), F_OK) != 0);  // removed once restored
}

TEST_CASE("a normal restore removes the state file - a tampered one cannot write outside knob files") {
  FakeTree t;
  test::buildXavierNx(t);
  FakeTree state_dir;
  const std::string state = state_dir.path("hw-state.json");
  {
    auto gov = xavierGovernor(t.root(), state);
    CHECK(::access(state.c_str(), F_OK) != 0);  // nothing changed yet, no file
    gov->apply({{"cpufreq.policy0", 115200}});
    CHECK(::access(state.c_str(), F_OK) == 0);
    gov->restore();
    CHECK(::access(state.c_str(), F_OK) != 0);
  }
  t.write("etc/shadow", "secret\n");
  nlohmann::json doc = {{"format", "dyndnn-hw-state"},
                        {"version", 1},
                        {"pid", 1},
                        {"entries",
                         {{{"path", t.path("sys/devices/system/cpu/cpufreq/policy0/scaling_governor")}, {"value", "x\n"}},
                          {{"path", t.path("etc/shadow")}, {"value", "pwned\n"}}}}};
  std::ofstream(state) << doc.dump();
  CHECK_THROWS_WITH(restoreFromStateFile(state), Catch::Contains("not a known knob"));
  CHECK(t.read("etc/shadow") == "secret\n");
  CHECK(t.read("sys/devices/system/cpu/cpufreq/policy0/scaling_governor") == "schedutil\n");  // validated first
  std::ofstream(state) << "{not json";
  CHECK_THROWS_WITH(restoreFromStateFile(state), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(restoreFromStateFile(state_dir.path("missing.json")), Catch::Contains("cannot read state file"));
}

namespace {
volatile sig_atomic_t g_host_saw_signal = 0;
void hostHandler(int) { g_host_saw_signal = 1; }

// A host with its own SIGTERM handler that lets the process go on: dyndnn restores first, then the host's
// handler runs, and no later apply() may change a knob again.
int hostKeepsRunning(const std::string& root) {
  ::signal(SIGTERM, hostHandler);
  installSignalRestore();
  auto gov = xavierGovernor(root);
  const std::string setspeed = root + "/sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed";
  gov->apply({{"cpufreq.policy0", 115200}});
  ::raise(SIGTERM);
  if (!g_host_saw_signal) return 2;
  std::ifstream in(setspeed);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (content != "<unsupported>\n") return 3;
  try {
    gov->apply({{"cpufreq.policy0", 192000}});
    return 4;
  } catch (const HardwareError& e) {
    return std::string(e.what()).find("ending on a signal") != std::string::npos ? 0 : 5;
  }
}
}  // namespace

TEST_CASE("the host's own SIGTERM handler still runs after the restore and later applies are refused") {
  FakeTree t;
  test::buildXavierNx(t);
  const Files original = t.snapshot();
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(hostKeepsRunning(t.root()));
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(test::changedFiles(original, t.snapshot()) == Files{});
}

TEST_CASE("restoreFromStateFile skips best-effort entries the kernel refuses but reports the others") {
  FakeTree t;
  test::buildXavierNx(t);
  FakeTree state_dir;
  const std::string state = state_dir.path("hw-state.json");
  const std::string P = "sys/devices/system/cpu/cpufreq/policy0/";
  ::unlink(t.path(P + "scaling_setspeed").c_str());
  ::mkdir(t.path(P + "scaling_setspeed").c_str(), 0755);  // refuses every write, like "<unsupported>" would
  t.write(P + "scaling_governor", "userspace\n");
  auto doc = [&](bool best_effort) {
    return nlohmann::json{{"format", "dyndnn-hw-state"},
                          {"version", 1},
                          {"pid", 1},
                          {"entries",
                           {{{"path", t.path(P + "scaling_governor")}, {"value", "schedutil\n"}, {"best_effort", false}},
                            {{"path", t.path(P + "scaling_setspeed")}, {"value", "<unsupported>\n"},
                             {"best_effort", best_effort}}}}};
  };
  std::ofstream(state) << doc(true).dump();
  CHECK(restoreFromStateFile(state) == 2);
  CHECK(t.read(P + "scaling_governor") == "schedutil\n");
  std::ofstream(state) << doc(false).dump();
  CHECK_THROWS_WITH(restoreFromStateFile(state), Catch::Contains("restored 1 of 2") && Catch::Contains("scaling_setspeed"));
}
