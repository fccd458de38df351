#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "cli/command.hpp"
#include "cli/progress.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {

using bench::percentile;

int runBench(const std::vector<std::string>& argv) {
  Command cmd("bench", "FILE [--op NAME | --config JSON] [--threads N] [--runs N] [--warmup N] [--json]",
              "Time infer() on one sub-network (batch 1, input at its resolution) and print median/p90/p99 latency "
              "in ms and the achieved GFLOP/s (2 x MACs / median time).");
  std::string file;
  Command::SubnetChoice subnet;
  ModelOptions options;
  options.threads = 1;
  int runs = 50, warmup = 5;
  bool json = false;
  cmd.addFile(file);
  cmd.addSubnet(subnet);
  cmd.addThreads(options.threads, "default 1");
  cmd.addBackend(options.backend);
  cmd->add_option("--runs", runs, "timed runs")->type_name("N")->check(positive())->capture_default_str();
  cmd->add_option("--warmup", warmup, "untimed runs first")
      ->type_name("N")
      ->check(nonNegative())
      ->capture_default_str();
  cmd.addJson(json);
  if (!cmd.parse(argv)) return 0;
  auto model = DynamicModel::load(file, options);
  subnet.applyTo(model);
  const auto config = model.activeConfig();
  auto input = at::randn({1, model.info().input.channels, config.r, config.r});

  Progress progress("bench", warmup + runs, !json);
  for (int i = 0; i < warmup; ++i, progress.step()) model.infer(input);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i, progress.step()) {
    const auto t0 = std::chrono::steady_clock::now();
    model.infer(input);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  progress.done();
  const double median = percentile(ms, 0.5);
  const auto macs = model.cost(config).macs;
  nlohmann::json out{{"operating_point", model.activeName()},
                     {"config", nlohmann::json::parse(config.toJson())},
                     {"backend", model.backend()},
                     {"threads", options.threads},
                     {"runs", runs},
                     {"macs", macs},
                     {"median_ms", median},
                     {"p90_ms", percentile(ms, 0.9)},
                     {"p99_ms", percentile(ms, 0.99)},
                     {"min_ms", *std::min_element(ms.begin(), ms.end())},
                     {"gflops", 2.0 * macs / (median * 1e6)}};
  std::map<std::string, int> kernels;  // how many nodes run on each kernel
  for (const auto& k : model.kernels()) ++kernels[k.kernel];
  out["kernels"] = kernels;
  if (json) {
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("{} {} [{}; {} thread(s); {} runs]\n  median {:.3f} ms  p90 {:.3f} ms  p99 {:.3f} ms  {:.1f} GFLOP/s "
               "({:.1f} MMACs)\n",
               model.activeName().empty() ? "(explicit config)" : model.activeName(), config.summary(),
               model.backend(), options.threads, runs, median, out["p90_ms"].get<double>(),
               out["p99_ms"].get<double>(), out["gflops"].get<double>(), macs / 1e6);
    std::string list;
    for (const auto& [kernel, n] : kernels) list += fmt::format("{}{} x {}", list.empty() ? "" : ", ", n, kernel);
    fmt::print("  kernels: {}\n", list);
  }
  return 0;
}

}  // namespace dyndnn::cli
