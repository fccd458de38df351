#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/args.hpp"
#include "cli/progress.hpp"
#include "cli/verbs.hpp"
#include "dyndnn/dyndnn.hpp"

namespace dyndnn::cli {
namespace {

constexpr const char* kHelp = R"(usage: dyndnn bench FILE [--op NAME | --config JSON] [--threads N] [--runs N] [--warmup N] [--json]

Time infer() on one sub-network (batch 1, input at its resolution) and print median/p90/p99 latency in ms and
the achieved GFLOP/s (2 x MACs / median time).
  --op NAME       operating point (default: the package's first)
  --config JSON   an explicit sub-network in OFA's dict form
  --threads N     intra-op threads (default 1)
  --runs N        timed runs (default 50)
  --warmup N      untimed runs first (default 5)
  --json          machine-readable output
)";

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p * (v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

}  // namespace

int runBench(const std::vector<std::string>& argv) {
  Args args(argv, {"json", "help"}, {"op", "config", "threads", "runs", "warmup"});
  if (args.has("help")) {
    fmt::print("{}", kHelp);
    return 0;
  }
  if (args.positional().size() != 1) throw InvalidArgument("expected exactly one FILE (see --help)");
  const int runs = args.getInt("runs", 50), warmup = args.getInt("warmup", 5);
  if (runs < 1 || warmup < 0) throw InvalidArgument("--runs must be >= 1 and --warmup >= 0");
  ModelOptions options;
  options.threads = args.getInt("threads", 1);
  if (options.threads < 1) throw InvalidArgument("--threads must be >= 1");
  auto model = DynamicModel::load(args.positional()[0], options);
  if (args.has("op")) model.setSubnet(args.get("op"));
  if (args.has("config")) model.setSubnet(SubnetConfig::fromJson(args.get("config")));
  const auto config = model.activeConfig();
  auto input = at::randn({1, model.info().input.channels, config.r, config.r});

  Progress progress("bench", warmup + runs, !args.has("json"));
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
  if (args.has("json")) {
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("{} {} [{}; {} thread(s); {} runs]\n  median {:.3f} ms  p90 {:.3f} ms  p99 {:.3f} ms  {:.1f} GFLOP/s "
               "({:.1f} MMACs)\n",
               model.activeName().empty() ? "(explicit config)" : model.activeName(), config.summary(),
               model.backend(), options.threads, runs, median, out["p90_ms"].get<double>(),
               out["p99_ms"].get<double>(), out["gflops"].get<double>(), macs / 1e6);
  }
  return 0;
}

}  // namespace dyndnn::cli
