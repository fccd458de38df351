// The runtime's CPU-load watcher: a thread that reads /proc per CPU and hands the newest reading to the frame
// thread. Run on a fake /proc tree whose counters the test moves.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "api/cpu_load_watch.hpp"
#include "dyndnn/error.hpp"
#include "hw/fake_tree.hpp"

using dyndnn::CpuLoadWatch;
using dyndnn::hw::test::FakeTree;

namespace {
std::string stat(long cpu0_busy, long cpu0_idle, long cpu1_busy, long cpu1_idle) {
  return "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 " + std::to_string(cpu0_busy) + " 0 0 " + std::to_string(cpu0_idle) +
         " 0 0 0 0 0 0\ncpu1 " + std::to_string(cpu1_busy) + " 0 0 " + std::to_string(cpu1_idle) + " 0 0 0 0 0 0\n";
}
// Polls take() for up to two seconds.
bool waitForReading(CpuLoadWatch& w, std::vector<double>& out) {
  for (int i = 0; i < 200; ++i) {
    if (w.take(out)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}
}  // namespace

TEST_CASE("cpu load watch: the newest per-CPU reading reaches the frame thread once") {
  FakeTree t;
  t.write("proc/stat", stat(0, 1000, 0, 1000));
  t.write("proc/self/stat", "7 (app) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n");
  std::string task = "7 (app) R";  // fields 4..39 (utime, stime: 14, 15; processor: 39) all 0: an idle thread
  for (int f = 4; f <= 39; ++f) task += " 0";
  t.write("proc/self/task/7/stat", task + "\n");
  CpuLoadWatch watch(std::chrono::milliseconds(20), t.root());
  std::vector<double> load;
  // cpu1 busy all the time since the reference reading (no thread of ours ran): a competitor.
  t.write("proc/stat", stat(0, 1100, 100, 1000));
  REQUIRE(waitForReading(watch, load));
  REQUIRE(load.size() == 2);
  // The watcher may have read once before the write (nothing moved: zeros); the write shows in a later reading.
  for (int i = 0; i < 100 && load[1] < 0.5; ++i) REQUIRE(waitForReading(watch, load));
  CHECK(load[0] == Approx(0.0));
  CHECK(load[1] == Approx(1.0));
  // A reading is handed over once; the next take() waits for the next period.
  std::vector<double> again;
  const bool twice = watch.take(again) && watch.take(again);
  CHECK_FALSE(twice);
}

TEST_CASE("cpu load watch: refuses a /proc without per-CPU lines, and stops promptly") {
  FakeTree t;
  t.write("proc/stat", "cpu  1 2 3 4 5 6 7 8 9 10\n");
  t.write("proc/self/stat", "7 (app) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n");
  CHECK_THROWS_AS(CpuLoadWatch(std::chrono::milliseconds(20), t.root()), dyndnn::HardwareError);
  const auto t0 = std::chrono::steady_clock::now();
  { CpuLoadWatch real(std::chrono::seconds(10)); }  // the real /proc; destruction does not wait out the period
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}
