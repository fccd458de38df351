// Task mapping, tested for real on this machine's cores: after binding, every worker thread's
// sched_getaffinity says what was asked, in the binding region and in later parallel regions (where
// LibTorch's intra-op loops run on the same libgomp threads).

#include <omp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>
#include <set>

#include <catch2/catch.hpp>

#include "dyndnn/error.hpp"
#include "dyndnn/hw/affinity.hpp"
#include "hw/fake_tree.hpp"

using namespace dyndnn;
using namespace dyndnn::hw;

namespace {

std::vector<int> myCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// What each thread of a fresh parallel region of `n` threads is allowed to run on, by thread id.
std::map<long, std::vector<int>> workerAffinities(int n) {
  std::map<long, std::vector<int>> seen;
  std::mutex m;
#pragma omp parallel num_threads(n)
  {
    auto cpus = myCpus();
    const long tid = static_cast<long>(::syscall(SYS_gettid));
    std::lock_guard<std::mutex> lock(m);
    seen[tid] = cpus;
  }
  return seen;
}

}  // namespace

TEST_CASE("big/LITTLE detection: Odroid XU3 by max frequency - Xavier NX uniform - this machine") {
  test::FakeTree xu3;
  test::buildOdroidXu3(xu3);
  const auto t = detectCpuTopology(xu3.root());
  CHECK(t.method == "max frequency");
  CHECK(t.little == std::vector<int>{0, 1, 2, 3});
  CHECK(t.big == std::vector<int>{4, 5, 6, 7});

  // cpu_capacity wins over frequency when present (arm64 kernels).
  for (int c = 0; c < 8; ++c) xu3.write("sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpu_capacity", c == 7 ? "1024\n" : "446\n");
  const auto cap = detectCpuTopology(xu3.root());
  CHECK(cap.method == "cpu_capacity");
  CHECK(cap.big == std::vector<int>{7});

  test::FakeTree nx;
  test::buildXavierNx(nx);
  const auto u = detectCpuTopology(nx.root());
  CHECK(u.method == "uniform");
  CHECK(u.big == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(u.little.empty());

  const auto here = detectCpuTopology("/");
  CHECK(here.online.size() == static_cast<std::size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
}

TEST_CASE("affinity: workers bound to one core report that core - here and in later parallel regions") {
  const std::vector<int> original = myCpus();
  const int target = original.back();  // a core this process may use
  const int n = static_cast<int>(original.size());
  auto gov = makeAffinityGovernor();
  const auto knobs = gov->knobs();
  REQUIRE(knobs.size() == 2);
  const Knob& affinity = knobs[0];
  CHECK(affinity.level_names.front() == "all");
  CHECK(affinity.levels.front() == cpuMask(original));
  const std::string target_name = "cpu" + std::to_string(target);
  const auto it = std::find(affinity.level_names.begin(), affinity.level_names.end(), target_name);
  REQUIRE(it != affinity.level_names.end());
  const std::int64_t target_mask = affinity.levels[static_cast<std::size_t>(it - affinity.level_names.begin())];
  CHECK(target_mask == (std::int64_t{1} << target));
  CHECK(knobs[1].levels.back() == n);

  gov->apply({{"affinity", target_mask}, {"threads", n}});
  const auto bound = boundWorkers(*gov);
  REQUIRE(bound.size() == static_cast<std::size_t>(n));
  std::set<long> tids;
  for (const auto& b : bound) {
    CHECK(b.cpus == std::vector<int>{target});
    tids.insert(b.tid);
  }
  CHECK(tids.size() == bound.size());  // one binding per distinct worker thread
  CHECK(omp_get_max_threads() == n);
  for (const auto& [tid, cpus] : workerAffinities(n)) {
    CAPTURE(tid);
    CHECK(tids.count(tid) == 1);  // the same threads run the next region
    CHECK(cpus == std::vector<int>{target});
  }
  CHECK(gov->current().at("affinity") == target_mask);

  gov->restore();
  for (const auto& [tid, cpus] : workerAffinities(n)) CHECK(cpus == original);
  CHECK(myCpus() == original);
}

TEST_CASE("affinity: changing the thread count binds the new workers too - and restore puts the count back") {
  const std::vector<int> original = myCpus();
  const int before = omp_get_max_threads();
  {
    auto gov = makeAffinityGovernor();
    const std::int64_t first = std::int64_t{1} << original.front();
    gov->apply({{"affinity", first}, {"threads", 1}});
    CHECK(boundWorkers(*gov).size() == 1);
    CHECK(omp_get_max_threads() == 1);
    const int n = static_cast<int>(original.size());
    gov->apply({{"threads", n}});
    const auto bound = boundWorkers(*gov);
    REQUIRE(bound.size() == static_cast<std::size_t>(n));
    for (const auto& b : bound) CHECK(b.cpus == std::vector<int>{original.front()});
    CHECK_THROWS_AS(gov->apply({{"threads", n + 1}}), HardwareError);
    CHECK_THROWS_AS(gov->apply({{"affinity", std::int64_t{1} << 62}}), HardwareError);  // not usable here
    CHECK_THROWS_AS(gov->apply({{"affinity", 0}}), HardwareError);                      // no core at all
    gov->apply({{"affinity", cpuMask(original)}});  // an explicit list: every usable core
    for (const auto& b : boundWorkers(*gov)) CHECK(b.cpus == original);
  }  // destructor restores
  CHECK(omp_get_max_threads() == before);
  for (const auto& [tid, cpus] : workerAffinities(static_cast<int>(original.size()))) CHECK(cpus == original);
}
