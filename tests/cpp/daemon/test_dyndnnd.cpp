// dyndnnd with real processes on a fake sysfs tree (an Odroid XU3: policy0 200-1400 MHz, policy4 200-2000 MHz):
// arbitration between clients of different priorities, a killed client's claims freed, a killed daemon's knobs
// restored, refusals by policy, leases, and no leak over hundreds of connections.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "daemon/daemon_process.hpp"
#include "dyndnn/daemon.hpp"
#include "dyndnn/error.hpp"
#include "hw/fake_tree.hpp"

using namespace dyndnn;
using namespace dyndnn::daemon;
using namespace dyndnn::daemon::test;
using namespace std::chrono_literals;

namespace {

const char kSetspeed0[] = "sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed";
const char kGovernor0[] = "sys/devices/system/cpu/cpufreq/policy0/scaling_governor";

std::string text(const HardwareState& s) {
  std::string out;
  for (const auto& [k, v] : s) out += fmt::format("{}{}={}", out.empty() ? "" : ",", k, v);
  return "{" + out + "}";
}

std::string text(const Grant& g) {
  return fmt::format("grant seq={} placed={} placement={} floors={} applied={}", g.seq, g.placed ? 1 : 0,
                     text(g.placement), text(g.floors), text(g.applied));
}

Claim cores(std::vector<std::int64_t> masks, std::int64_t policy0_khz) {
  Claim c;
  c.exclusive_knob = "affinity";
  for (auto m : masks) c.placements.push_back({{"affinity", m}});
  if (policy0_khz > 0) c.shared["cpufreq.policy0"] = policy0_khz;
  return c;
}

// A client process: connects, claims, reports every grant, keeps its lease (unless `ping` is false) until killed.
ClientProcess::Body claimant(std::string socket, std::string name, int priority, Claim claim, bool ping = true) {
  return [=](int out) {
    auto client = Client::connect(socket, name, priority);
    report(out, text(client->claim(claim)));
    for (;;) {
      if (auto g = client->poll(50ms)) report(out, text(*g));
      if (!client->connected()) {
        report(out, "disconnected");
        return 0;
      }
      try {
        if (ping) client->ping();
      } catch (const HardwareError&) {  // the daemon went away between the poll and the ping (seen under load)
        report(out, "disconnected");
        return 0;
      }
    }
  };
}

// A client process that connects as `name` and reports "refused: <the daemon's reason>" when connecting fails.
ClientProcess::Body refusedAtConnect(std::string socket, std::string name, int priority) {
  return [=](int out) {
    try {
      Client::connect(socket, name, priority);
    } catch (const InvalidArgument& e) {
      report(out, std::string("refused: ") + e.what());
    }
    return 0;
  };
}

struct Board {
  hw::test::FakeTree tree;
  SocketDir dir;
  std::map<std::string, std::string> found;
  Board() {
    hw::test::buildOdroidXu3(tree);
    found = tree.snapshot();
  }
  std::vector<std::string> args(const std::string& policy = "", int lease_ms = 2000) {
    std::vector<std::string> a = {"--root", tree.root(), "--state-file", dir.file("state.json"), "--lease-ms",
                                  std::to_string(lease_ms)};
    if (!policy.empty()) {
      std::ofstream(dir.file("policy.json")) << policy;
      a.insert(a.end(), {"--policy", dir.file("policy.json")});
    }
    return a;
  }
};

}  // namespace

TEST_CASE("dyndnnd: two clients get disjoint cores by priority and a frequency high enough for both", "[daemon]") {
  Board b;
  DaemonProcess d(b.dir.socket(), b.args());
  // Both prefer cpu0 (mask 1), then cpu1 (mask 2). The low-priority one connects first.
  ClientProcess low(claimant(b.dir.socket(), "low", 1, cores({1, 2}, 800000)));
  const std::string first = low.waitFor("grant");
  CHECK_THAT(first, Catch::Contains("placement={affinity=1}"));
  CHECK_THAT(first, Catch::Contains("applied={cpufreq.policy0=800000}"));
  CHECK(b.tree.read(kSetspeed0) == "800000");
  ClientProcess high(claimant(b.dir.socket(), "high", 5, cores({1, 2}, 1400000)));
  const std::string high_grant = high.waitFor("grant");
  CHECK_THAT(high_grant, Catch::Contains("placement={affinity=1}"));
  CHECK_THAT(high_grant, Catch::Contains("floors={cpufreq.policy0=800000}"));  // what the other one needs
  CHECK_THAT(high_grant, Catch::Contains("applied={cpufreq.policy0=1400000}"));
  // The low one is pushed a new grant: moved to cpu1, and the frequency is the higher need.
  const std::string moved = low.waitFor("seq=2");
  CHECK_THAT(moved, Catch::Contains("placement={affinity=2}"));
  CHECK_THAT(moved, Catch::Contains("applied={cpufreq.policy0=1400000}"));
  CHECK(b.tree.read(kSetspeed0) == "1400000");
  CHECK(b.tree.read(kGovernor0) == "userspace");

  const auto status = queryDaemon(b.dir.socket());
  REQUIRE(status);
  REQUIRE(status->clients.size() == 2);
  CHECK(status->clients[0].name == "low");
  CHECK(status->clients[0].pid == low.pid());
  CHECK(status->clients[1].grant.placement.at("affinity") == 1);
  CHECK(status->applied.at("cpufreq.policy0") == 1400000);

  SECTION("killing the high-priority client frees its core and its frequency for the other") {
    const auto t0 = std::chrono::steady_clock::now();
    high.kill(SIGKILL);
    const std::string freed = low.waitFor("seq=3", 2000ms);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    CHECK_THAT(freed, Catch::Contains("placement={affinity=1}"));
    CHECK_THAT(freed, Catch::Contains("applied={cpufreq.policy0=800000}"));
    CHECK(b.tree.read(kSetspeed0) == "800000");
    CHECK(ms < 2000);
  }
  SECTION("stopping the daemon (SIGTERM) restores every knob; its clients see it go") {
    const int status_code = d.stop(SIGTERM);
    CHECK(WIFEXITED(status_code));
    CHECK(WEXITSTATUS(status_code) == 0);
    CHECK(b.tree.snapshot() == b.found);
    CHECK_FALSE(low.waitFor("disconnected").empty());
    CHECK_FALSE(queryDaemon(b.dir.socket()));  // the socket is gone
  }
  SECTION("a daemon killed with SIGKILL is restored by the next one, which rebuilds from new claims") {
    d.stop(SIGKILL);
    CHECK(b.tree.read(kSetspeed0) == "1400000");  // nothing could run
    CHECK_FALSE(low.waitFor("disconnected").empty());
    DaemonProcess again(b.dir.socket(), b.args());
    CHECK(b.tree.snapshot() == b.found);  // restored from the state file before anything else
    CHECK_THAT(again.log(), Catch::Contains("restored"));
    ClientProcess back(claimant(b.dir.socket(), "low", 1, cores({1, 2}, 600000)));
    CHECK_THAT(back.waitFor("grant"), Catch::Contains("applied={cpufreq.policy0=600000}"));
    CHECK(b.tree.read(kSetspeed0) == "600000");
  }
}

TEST_CASE("dyndnnd: a client that stops answering loses its lease", "[daemon]") {
  Board b;
  DaemonProcess d(b.dir.socket(), b.args("", 300));
  ClientProcess silent(claimant(b.dir.socket(), "silent", 5, cores({1}, 1400000), /*ping=*/false));
  CHECK_THAT(silent.waitFor("grant"), Catch::Contains("placed=1"));
  ClientProcess waiting(claimant(b.dir.socket(), "waiting", 1, cores({1}, 400000)));
  CHECK_THAT(waiting.waitFor("grant"), Catch::Contains("placed=0"));  // cpu0 is taken
  // The silent one sends nothing after its claim: within its 300 ms lease (plus the poll) the core is freed.
  const std::string freed = waiting.waitFor("placed=1", 2000ms);
  CHECK_THAT(freed, Catch::Contains("placement={affinity=1}"));
  CHECK_THAT(freed, Catch::Contains("applied={cpufreq.policy0=400000}"));
  CHECK_THAT(d.log(), Catch::Contains("lease of 300 ms ran out"));
}

TEST_CASE("dyndnnd: the policy decides who may connect, what they may claim and at what priority", "[daemon]") {
  Board b;
  const uid_t me = getuid();
  DaemonProcess d(b.dir.socket(), b.args(fmt::format(R"({{"rules":[{{"uid":{},"knobs":["affinity"],"max_priority":3}}]}})", me)));
  SECTION("a knob the rule does not give is refused, and nothing changes") {
    ClientProcess c([&](int out) {
      auto client = Client::connect(b.dir.socket(), "app", 0);
      try {
        client->claim(cores({1}, 1400000));
      } catch (const InvalidArgument& e) {
        report(out, std::string("refused: ") + e.what());
      }
      return 0;
    });
    CHECK_THAT(c.waitFor("refused"), Catch::Contains("may not claim 'cpufreq.policy0'"));
    CHECK(b.tree.snapshot() == b.found);
  }
  SECTION("a priority above the rule's cap is refused") {
    ClientProcess c(refusedAtConnect(b.dir.socket(), "app", 4));
    CHECK_THAT(c.waitFor("refused"), Catch::Contains("priority 4 is above the 3"));
  }
  SECTION("a user no rule names is refused at connect") {
    if (geteuid() != 0) {
      WARN("not run here: running a client as another user needs root");
      return;
    }
    ClientProcess c(refusedAtConnect(b.dir.socket(), "intruder", 0), /*as_nobody=*/true);
    const std::string l = c.waitFor("refused");
    CHECK_THAT(l, Catch::Contains("is not allowed by the policy"));
    CHECK_THAT(l, Catch::Contains("uid 65534"));
  }
  SECTION("one client cannot take another's name") {
    ClientProcess first(claimant(b.dir.socket(), "camera", 0, cores({1}, 0)));
    REQUIRE_FALSE(first.waitFor("grant").empty());
    ClientProcess second(refusedAtConnect(b.dir.socket(), "camera", 0));
    CHECK_THAT(second.waitFor("refused"), Catch::Contains("named 'camera' is connected already"));
  }
}

TEST_CASE("dyndnnd: an unprivileged client the policy names gets its frequency without root", "[daemon]") {
  if (geteuid() != 0) {
    WARN("not run here: running a client as another user needs root");
    return;
  }
  Board b;
  DaemonProcess d(b.dir.socket(), b.args(R"({"rules":[{"uid":65534,"knobs":["cpufreq.*","affinity"],"max_priority":5}]})"));
  ClientProcess c([&](int out) -> int {
    report(out, fmt::format("uid {}", getuid()));
    auto client = Client::connect(b.dir.socket(), "camera", 5);
    report(out, text(client->claim(cores({2}, 1400000))));
    for (;;) client->poll(std::chrono::milliseconds(100));  // holds its claim until killed (exiting would free it)
  }, /*as_nobody=*/true);
  CHECK(c.line() == "uid 65534");
  CHECK_THAT(c.waitFor("grant"), Catch::Contains("applied={cpufreq.policy0=1400000}"));
  CHECK(b.tree.read(kSetspeed0) == "1400000");  // written by the daemon: the client could not have
}

TEST_CASE("dyndnnd: a level the knob does not offer or a knob it does not drive is refused", "[daemon]") {
  Board b;
  DaemonProcess d(b.dir.socket(), b.args());
  auto client = Client::connect(b.dir.socket(), "app", 0);
  CHECK(client->welcome().knobs.size() == 2);  // cpufreq.policy0 and policy4
  Claim odd = cores({1}, 0);
  odd.shared["cpufreq.policy0"] = 1234567;
  CHECK_THROWS_WITH(client->claim(odd), Catch::Contains("1234567 is not a level of 'cpufreq.policy0'"));
  // A refused claim closes nothing: the same connection claims again.
  Claim gpu = cores({1}, 0);
  gpu.shared["devfreq.gpu"] = 1;
  CHECK_THROWS_WITH(client->claim(gpu), Catch::Contains("'devfreq.gpu' is not a knob this daemon drives"));
  CHECK(client->claim(cores({1}, 1000000)).applied.at("cpufreq.policy0") == 1000000);
  // need() changes the shared level only; the new grant is pushed.
  client->need({{"cpufreq.policy0", 1200000}});
  auto g = client->poll(2000ms);
  REQUIRE(g);
  CHECK(g->placement.at("affinity") == 1);
  CHECK(g->applied.at("cpufreq.policy0") == 1200000);
  CHECK(b.tree.read(kSetspeed0) == "1200000");
}

TEST_CASE("dyndnnd: hundreds of connect, claim, disconnect cycles leak no descriptor or memory", "[daemon]") {
  Board b;
  DaemonProcess d(b.dir.socket(), b.args());
  auto cycle = [&](int i) {
    auto c = Client::connect(b.dir.socket(), fmt::format("c{}", i), 0);
    c->claim(cores({1, 2}, i % 2 ? 1400000 : 800000));
  };
  for (int i = 0; i < 50; ++i) cycle(i);  // warm: the allocator's arenas settle
  std::this_thread::sleep_for(100ms);    // the last bye reaches the daemon
  const int fds = d.openFds();
  const long rss = d.rssKb();
  for (int i = 0; i < 400; ++i) cycle(i);
  std::this_thread::sleep_for(100ms);  // the last bye reaches the daemon
  CHECK(d.openFds() == fds);
#if defined(__SANITIZE_ADDRESS__)
  (void)rss;  // ASan holds freed memory in its quarantine (tens of MB): RSS says nothing there; descriptors still do
#else
  CHECK(d.rssKb() <= rss + 256);
#endif
  const auto status = queryDaemon(b.dir.socket());
  REQUIRE(status);
  CHECK(status->clients.empty());
  CHECK(b.tree.snapshot() == b.found);  // nobody needs anything: every knob is back
}

TEST_CASE("dyndnnd: `dyndnn hw` reports the daemon, its clients and what it granted", "[daemon]") {
  const char* cli = DYNDNN_CLI_PATH;
  if (!*cli) {
    WARN("not run: a build without the CLI");
    return;
  }
  Board b;
  auto run = [&] {
    const std::string cmd = fmt::format("{} hw --root {} --daemon {} --json", cli, b.tree.root(), b.dir.socket());
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    CHECK(pclose(p) == 0);
    return nlohmann::json::parse(out).at("daemon");
  };
  CHECK_FALSE(run().at("present").get<bool>());
  DaemonProcess d(b.dir.socket(), b.args());
  ClientProcess c(claimant(b.dir.socket(), "camera", 2, cores({2}, 1000000)));
  REQUIRE_FALSE(c.waitFor("grant").empty());
  const auto j = run();
  CHECK(j.at("present").get<bool>());
  CHECK(j.at("governor").get<std::string>().find("cpufreq") != std::string::npos);
  CHECK(j.at("applied").at("cpufreq.policy0").get<int>() == 1000000);
  REQUIRE(j.at("clients").size() == 1);
  CHECK(j.at("clients")[0].at("name") == "camera");
  CHECK(j.at("clients")[0].at("pid").get<int>() == c.pid());
  CHECK(j.at("clients")[0].at("placement").at("affinity").get<int>() == 2);
}

TEST_CASE("dyndnnd: a second daemon on a socket a live one serves refuses to start", "[daemon]") {
  Board b;
  DaemonProcess d(b.dir.socket(), b.args());
  auto client = Client::connect(b.dir.socket(), "served", 0);
  CHECK(client->claim(cores({1}, 600000)).applied.at("cpufreq.policy0") == 600000);
  std::string cmd = std::string(DYNDNN_DAEMON) + " --socket " + b.dir.socket();
  for (const auto& a : b.args()) cmd += " " + a;
  cmd += " 2>" + b.dir.file("second.log");
  const int status = std::system(cmd.c_str());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  std::ifstream log(b.dir.file("second.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("another daemon listens on"));
  // It touched nothing: the state file and the knob the first one set are as they were.
  CHECK(b.tree.read(kSetspeed0) == "600000");
  client->need({{"cpufreq.policy0", 800000}});  // the first one still serves
  auto g = client->poll(2000ms);
  REQUIRE(g);
  CHECK(g->applied.at("cpufreq.policy0") == 800000);
  CHECK(b.tree.read(kSetspeed0) == "800000");
}
