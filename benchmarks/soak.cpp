// Soak test: many inferences on one DynamicModel with random manual switches (setSubnet / requestSubnet) and random
// runtime-manager targets (setTarget with random budgets, frame rates, accuracy floors and objectives), watching
// for leaks of memory, file descriptors and threads.
//
//   soak [--package P] [--images IDX.gz] [--iterations N] [--warmup N] [--cache-plans K] [--seed S]
//        [--max-growth-pct X] [--json OUT] [--no-trace]
//
// Defaults: models/fmnist_ofa_mbv3.dyn, the Fashion-MNIST test images (/usr/share/datasets/fashion-mnist; random
// images when absent), 100000 inferences, warm-up 5000, a plan cache with room for about half the operating points
// (so switches evict and rebuild plans), growth limit 1%. Reports VmRSS, open descriptors (/proc/self/fd) and
// threads (/proc/self/task) at the start, after the warm-up and at the end, plus samples in between (each taken with
// the plan cache emptied and the first operating point active, so that which plans happen to be cached does not
// move the figure); --no-trace stops the runtime manager's per-frame trace (RuntimeManager::keepTrace). Exits 1 when
// RSS grew by the limit or more from the end of the warm-up to the end, or when descriptors or threads grew
// (2 for bad arguments or a failure). Writes the JSON to --json (default benchmarks/results/soak.json) and stdout.

#include <ATen/ATen.h>
#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dyndnn/dyndnn.hpp"
#include "dyndnn/tools/idx_dataset.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Usage {
  long rss_kb = 0;
  int fds = 0, threads = 0;
};

long vmRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int countEntries(const char* dir) {
  DIR* d = ::opendir(dir);
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - (std::strcmp(dir, "/proc/self/fd") == 0 ? 1 : 0);  // the descriptor opendir itself holds
}

Usage usage() { return {vmRssKb(), countEntries("/proc/self/fd"), countEntries("/proc/self/task")}; }

json toJson(const Usage& u) { return {{"rss_kb", u.rss_kb}, {"fds", u.fds}, {"threads", u.threads}}; }

std::uint32_t bigEndian(const unsigned char* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

// IDX images (magic 2051), gzip or plain; empty when unreadable.
std::vector<std::vector<std::uint8_t>> readIdxImages(const std::string& path, int& rows, int& cols) {
  std::vector<std::vector<std::uint8_t>> images;
  gzFile f = ::gzopen(path.c_str(), "rb");
  if (f == nullptr) return images;
  unsigned char header[16];
  if (::gzread(f, header, sizeof header) == static_cast<int>(sizeof header) && bigEndian(header) == 2051) {
    const std::uint32_t count = bigEndian(header + 4);
    rows = static_cast<int>(bigEndian(header + 8));
    cols = static_cast<int>(bigEndian(header + 12));
    if (rows > 0 && rows <= 4096 && cols > 0 && cols <= 4096) {
      const auto size = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::vector<std::uint8_t> img(size);
        if (::gzread(f, img.data(), static_cast<unsigned>(size)) != static_cast<int>(size)) break;
        images.push_back(std::move(img));
      }
    }
  }
  ::gzclose(f);
  return images;
}

dyndnn::runtime::Target randomTarget(std::mt19937& rng, double fastest_ms, double slowest_ms) {
  std::uniform_real_distribution<double> u(0, 1);
  dyndnn::runtime::Target t;
  // budgets from below the fastest operating point (infeasible: best effort) to above the slowest
  const double budget = fastest_ms * 0.5 + u(rng) * (slowest_ms * 2.0 - fastest_ms * 0.5);
  if (u(rng) < 0.7) {
    t.latency_ms = budget;
  } else {
    t.fps = 1000.0 / budget;
  }
  if (u(rng) < 0.3) t.min_accuracy = 50.0 + u(rng) * 45.0;
  t.objective = u(rng) < 0.5 ? dyndnn::runtime::Objective::MostAccuracy : dyndnn::runtime::Objective::LeastEnergy;
  t.confidence = 0.5 + u(rng) * 0.49;
  return t;
}

std::string argValue(int& i, int argc, char** argv) {
  if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a value");
  return argv[++i];
}

}  // namespace

int main(int argc, char** argv) {
  std::string package = "models/fmnist_ofa_mbv3.dyn";
  std::string images_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  std::string json_path = "benchmarks/results/soak.json";
  long iterations = 100000, warmup = 5000;
  int cache_plans = -1;  // -1: half the operating points (at least 2); 0 keeps the library's default budget
  unsigned seed = 1;
  double max_growth_pct = 1.0;
  bool no_trace = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--package") package = argValue(i, argc, argv);
      else if (a == "--images") images_path = argValue(i, argc, argv);
      else if (a == "--json") json_path = argValue(i, argc, argv);
      else if (a == "--iterations") iterations = std::stol(argValue(i, argc, argv));
      else if (a == "--warmup") warmup = std::stol(argValue(i, argc, argv));
      else if (a == "--cache-plans") cache_plans = std::stoi(argValue(i, argc, argv));
      else if (a == "--seed") seed = static_cast<unsigned>(std::stoul(argValue(i, argc, argv)));
      else if (a == "--max-growth-pct") max_growth_pct = std::stod(argValue(i, argc, argv));
      else if (a == "--no-trace") no_trace = true;
      else throw std::invalid_argument("unknown argument " + a + " (see the comment at the top of soak.cpp)");
    }
    if (iterations <= 0 || warmup < 0 || warmup >= iterations)
      throw std::invalid_argument("need 0 <= --warmup < --iterations");
  } catch (const std::exception& e) {
    std::cerr << "soak: " << e.what() << "\n";
    return 2;
  }

  try {
    const Usage at_start = usage();
    const auto t_start = Clock::now();
    auto model = dyndnn::DynamicModel::load(package);
    const auto& ops = model.operatingPoints();
    if (ops.empty()) throw std::runtime_error(package + " has no operating points to switch between");
    const auto& spec = model.info().input;

    int rows = 0, cols = 0;
    auto images = readIdxImages(images_path, rows, cols);
    const bool real_images = !images.empty() && spec.channels == 1;
    if (!real_images) {  // random 8-bit images at the largest resolution
      images.clear();
      rows = cols = spec.resolutions.empty() ? 28 : spec.resolutions.back();
      std::mt19937 fill(seed);
      for (int i = 0; i < 1000; ++i) {
        std::vector<std::uint8_t> img(static_cast<std::size_t>(rows * cols * spec.channels));
        for (auto& p : img) p = static_cast<std::uint8_t>(fill() & 0xff);
        images.push_back(std::move(img));
      }
    }

    // The plan cache: room for the `cache_plans` largest plans, so switches evict and rebuild.
    std::vector<std::size_t> plan_bytes;
    for (const auto& op : ops) {
      model.setSubnet(op.name);
      plan_bytes.push_back(model.activePlanBytes());
    }
    std::sort(plan_bytes.rbegin(), plan_bytes.rend());
    if (cache_plans < 0) cache_plans = std::max<int>(2, static_cast<int>(ops.size()) / 2);
    if (cache_plans > 0) {  // room for the `cache_plans` largest plans, not one more
      std::size_t budget = 0;
      for (std::size_t i = 0; i < plan_bytes.size() && i < static_cast<std::size_t>(cache_plans); ++i)
        budget += plan_bytes[i];
      model.setPlanCacheBudget(budget + plan_bytes.back() / 2);
    }
    const std::size_t cache_budget = model.planCacheStats().budget;

    // The first setTarget measures the profile here (thread counts x operating points), as an application would.
    dyndnn::runtime::Target first;
    first.latency_ms = 1e6;
    model.setTarget(first);
    if (no_trace) model.runtimeManager()->keepTrace(false);
    const auto& profile = model.runtimeManager()->profile();
    double fastest = 1e300, slowest = 0;
    for (const auto& e : profile.entries) {
      fastest = std::min(fastest, e.latency_ms);
      slowest = std::max(slowest, e.latency_ms);
    }

    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    dyndnn::runtime::Target last_target = first;
    // Measured in the same state every time: which plans happen to be cached (3 to 9 MB each here) would otherwise
    // move RSS by a few percent from one sample to the next. The cache is emptied, the first operating point made
    // active (the only plan alive), then the budget, the sub-network and the manager are put back.
    auto settledUsage = [&] {
      const bool was_managed = model.managed();
      const std::string active = model.activeName();
      const auto config = model.activeConfig();
      model.setPlanCacheBudget(0);
      model.setSubnet(ops.front().name);
      const Usage measured = usage();
      model.setPlanCacheBudget(cache_budget);
      if (active.empty()) model.setSubnet(config); else model.setSubnet(active);
      if (was_managed) model.setTarget(last_target);
      return measured;
    };
    long set_subnet = 0, request_subnet = 0, set_target = 0, managed_frames = 0, tensor_inputs = 0;
    Usage after_warmup;
    long rss_warmup = 0;
    json samples = json::array();
    const long sample_every = std::max(1L, iterations / 20);
    const auto t_loop = Clock::now();
    auto t_warm = t_loop;
    std::uint64_t checksum = 0;
    for (long i = 0; i < iterations; ++i) {
      // about one change every 25 frames: half manual switches, half new targets
      if (u(rng) < 0.04) {
        const double what = u(rng);
        const auto& name = ops[rng() % ops.size()].name;
        if (what < 0.25) {
          model.setSubnet(name);
          ++set_subnet;
        } else if (what < 0.5) {
          model.requestSubnet(name);
          ++request_subnet;
        } else {
          last_target = randomTarget(rng, fastest, slowest);
          model.setTarget(last_target);
          ++set_target;
        }
      }
      managed_frames += model.managed();
      const auto& img = images[static_cast<std::size_t>(i) % images.size()];
      at::Tensor logits;
      if (i % 8 == 7) {  // the float-tensor path too (uint8 -> [0,1] -> normalised like the image path)
        auto x = at::from_blob(const_cast<std::uint8_t*>(img.data()), {1, spec.channels, rows, cols}, at::kByte)
                     .to(at::kFloat)
                     .div_(255.0f);
        logits = model.infer(x);
        ++tensor_inputs;
      } else {
        logits = model.infer(dyndnn::ImageView{img.data(), rows, cols, spec.channels, 0});
      }
      checksum += static_cast<std::uint64_t>(logits.argmax(1).item<std::int64_t>());
      if (i + 1 == warmup) {
        after_warmup = settledUsage();
        rss_warmup = after_warmup.rss_kb;
        t_warm = Clock::now();
      }
      if ((i + 1) % sample_every == 0) {
        const Usage s = i + 1 == warmup ? after_warmup : settledUsage();
        samples.push_back({{"iteration", i + 1}, {"rss_kb", s.rss_kb}, {"fds", s.fds}, {"threads", s.threads}});
        std::cerr << "soak: " << (i + 1) << " / " << iterations << "  VmRSS " << s.rss_kb << " kB  fds " << s.fds
                  << "  threads " << s.threads << "\n";
      }
    }
    const Usage at_end = settledUsage();
    const auto t_end = Clock::now();
    const double growth_pct =
        100.0 * static_cast<double>(at_end.rss_kb - rss_warmup) / static_cast<double>(std::max(1L, rss_warmup));
    const bool rss_ok = growth_pct < max_growth_pct;
    const bool fds_ok = at_end.fds <= after_warmup.fds;
    const bool threads_ok = at_end.threads <= after_warmup.threads;
    const auto cache = model.planCacheStats();
    const auto stats = model.runtimeStats();
    const double loop_s = std::chrono::duration<double>(t_end - t_loop).count();

    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    json out = {
        {"package", package},
        {"inputs", real_images ? images_path : std::string("random 8-bit images")},
        {"iterations", iterations},
        {"warmup", warmup},
        {"seed", seed},
        {"runtime_trace_kept", !no_trace},
        {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
        {"host", host},
        {"dyndnn_version", dyndnn::version()},
        {"start", toJson(at_start)},
        {"after_warmup", toJson(after_warmup)},
        {"end", toJson(at_end)},
        {"rss_growth_pct", growth_pct},
        {"max_growth_pct", max_growth_pct},
        {"pass", {{"rss", rss_ok}, {"fds", fds_ok}, {"threads", threads_ok}}},
        {"samples", samples},
        {"actions", {{"setSubnet", set_subnet}, {"requestSubnet", request_subnet}, {"setTarget", set_target},
                     {"managed_frames", managed_frames}, {"tensor_inputs", tensor_inputs}}},
        {"plan_cache", {{"budget", cache.budget}, {"plans_room", cache_plans}, {"hits", cache.hits},
                        {"misses", cache.misses}, {"builds", cache.builds}, {"evictions", cache.evictions},
                        {"entries", cache.entries}}},
        {"manager", {{"frames", stats.frames}, {"switches", stats.switches}, {"budget_misses", stats.budget_misses}}},
        {"seconds", {{"load_and_profile", std::chrono::duration<double>(t_loop - t_start).count()},
                     {"warmup", std::chrono::duration<double>(t_warm - t_loop).count()},
                     {"loop", loop_s}}},
        {"inferences_per_s", static_cast<double>(iterations) / loop_s},
        {"argmax_checksum", checksum},
    };
    const std::string text = out.dump(2);
    std::cout << text << "\n";
    if (!json_path.empty()) {
      std::ofstream f(json_path);
      f << text << "\n";
      if (!f) std::cerr << "soak: could not write " << json_path << "\n";
    }
    std::cerr << "soak: VmRSS " << rss_warmup << " kB after warm-up, " << at_end.rss_kb << " kB at the end ("
              << growth_pct << "%, limit " << max_growth_pct << "%); fds " << at_start.fds << " / "
              << after_warmup.fds << " / " << at_end.fds << "; threads " << at_start.threads << " / "
              << after_warmup.threads << " / " << at_end.threads << " -> "
              << (rss_ok && fds_ok && threads_ok ? "PASS" : "FAIL") << "\n";
    return rss_ok && fds_ok && threads_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "soak: " << e.what() << "\n";
    return 2;
  }
}
