// Task-mapping benchmark (issue 5): inference latency with the workers bound to one core against all cores,
// through the affinity governor, so the numbers show what the "affinity" and "threads" knobs buy.
//   bench_affinity PACKAGE [RUNS] [OPERATING_POINT]     one JSON object on stdout
// Run it on an otherwise idle machine; on a shared one the spread (p90) says how much to trust the medians.

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "dyndnn/dyndnn.hpp"

#include "bench_stats.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

using dyndnn::hw::knobs::kAffinity;
using dyndnn::hw::knobs::kThreads;
namespace {

using bench::percentile;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_affinity PACKAGE [RUNS] [OPERATING_POINT]\n";
    return 1;
  }
  const int runs = argc > 2 ? std::stoi(argv[2]) : 30;
  namespace hw = dyndnn::hw;
  auto gov = hw::makeAffinityGovernor();  // before the model: records the process's original placement
  const hw::Knob affinity = gov->knobs()[0];
  const hw::Knob threads = gov->knobs()[1];
  const int max_threads = static_cast<int>(threads.levels.back());

  dyndnn::ModelOptions options;
  options.threads = max_threads;
  auto model = dyndnn::DynamicModel::load(argv[1], options);
  const std::string op = argc > 3 ? argv[3] : model.operatingPoints().back().name;
  model.setSubnet(op);
  int r = 0;
  for (const auto& p : model.operatingPoints())
    if (p.name == op) r = p.config.r;
  const at::Tensor input = at::rand({1, 3, r, r});

  // Settings: all cores, then each single core, with as many threads as cores, and one core with one thread.
  std::vector<std::pair<std::string, hw::HardwareState>> settings;
  for (std::size_t i = 0; i < affinity.levels.size(); ++i)
    settings.push_back({affinity.level_names[i] + ", " + std::to_string(max_threads) + " threads",
                        {{kAffinity, affinity.levels[i]}, {kThreads, max_threads}}});
  settings.push_back({affinity.level_names.back() + ", 1 thread", {{kAffinity, affinity.levels.back()}, {kThreads, 1}}});

  json results = json::array();
  for (const auto& [name, state] : settings) {
    gov->apply(state);
    json bound = json::array();
    for (const auto& b : hw::boundWorkers(*gov)) bound.push_back({{"worker", b.worker}, {"tid", b.tid}, {"cpus", b.cpus}});
    for (int i = 0; i < 3; ++i) model.infer(input);  // warm-up under the new placement
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      const auto t0 = Clock::now();
      model.infer(input);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    results.push_back({{"setting", name}, {"bound", bound}, {"median_ms", percentile(ms, 0.5)},
                       {"p90_ms", percentile(ms, 0.9)}, {"runs", runs}});
  }
  gov->restore();
  std::cout << json({{"package", argv[1]}, {"operating_point", op}, {"resolution", r}, {"results", results}}).dump(2)
            << "\n";
  return 0;
}
