// oneDNN against XNNPACK on this CPU, side by side in one process: per op class (the convolutions MobileNetV3
// spends its time in) and per sub-network of a package, the same op graph compiled by both backends, runs
// interleaved (A, B, A, B, ...) so that drift and noise hit both alike; medians, the ratio, and per repeat so the
// worst and median repeat can be reported.
//   bench_backends [--package P.dyn]... [--threads N] [--runs R] [--repeats K] [--json OUT]

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "../bench_stats.hpp"
#include "dyndnn/dyndnn.hpp"
#include "engine/execution_plan.hpp"
#include "engine/graph.hpp"
#include "format/package.hpp"
#include "nn/family.hpp"

using nlohmann::json;
using dyndnn::engine::Backend;
using dyndnn::engine::Graph;
using Clock = std::chrono::steady_clock;

namespace {

struct Case {
  std::string name;
  Graph graph;
  double macs;
};

Graph convGraph(int in, int out, int kernel, int groups, int size) {
  Graph g;
  const int x = g.input({1, in, size, size});
  g.setOutput(g.conv2d(x, at::randn({out, in / groups, kernel, kernel}) * 0.1, at::randn({out}), 1, kernel / 2));
  return g;
}

std::vector<Case> opCases() {
  std::vector<Case> cases;
  auto add = [&](std::string name, Graph g) {
    const double macs = static_cast<double>(g.totalMacs());
    cases.push_back({std::move(name), std::move(g), macs});
  };
  add("conv1x1 96->576 @28", convGraph(96, 576, 1, 1, 28));
  add("conv1x1 576->96 @28", convGraph(576, 96, 1, 1, 28));
  add("dwconv3x3 576 @28", convGraph(576, 576, 3, 576, 28));
  add("dwconv5x5 576 @28", convGraph(576, 576, 5, 576, 28));
  add("dwconv7x7 576 @28", convGraph(576, 576, 7, 576, 28));
  add("conv3x3 3->16 s1 @112 (stem)", convGraph(3, 16, 3, 1, 112));
  {
    Graph g;
    const int x = g.input({1, 1280});
    g.setOutput(g.linear(x, at::randn({1000, 1280}) * 0.03, at::randn({1000})));
    add("linear 1280->1000", std::move(g));
  }
  return cases;
}

double timeOnce(const dyndnn::engine::ExecutionPlan& plan, const at::Tensor& x) {
  const auto t0 = Clock::now();
  auto y = plan.run(x);
  const auto t1 = Clock::now();
  (void)y;
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// One repeat of one case: warm-up, then `runs` interleaved pairs.
json measure(const Graph& g, int runs) {
  auto a = dyndnn::engine::compile(g, at::kCPU, Backend::OneDnn);
  auto b = dyndnn::engine::compile(g, at::kCPU, Backend::Xnnpack);
  auto shape = g.inputShape();
  const auto x = at::randn(shape);
  for (int i = 0; i < 3; ++i) timeOnce(*a, x), timeOnce(*b, x);
  std::vector<double> ta, tb;
  for (int i = 0; i < runs; ++i) {
    ta.push_back(timeOnce(*a, x));
    tb.push_back(timeOnce(*b, x));
  }
  const double ma = bench::percentile(ta, 0.5), mb = bench::percentile(tb, 0.5);
  std::map<std::string, int> ka, kb;
  for (const auto& k : a->kernels()) ++ka[k];
  for (const auto& k : b->kernels()) ++kb[k];
  return {{"onednn_ms", ma}, {"xnnpack_ms", mb}, {"xnnpack_over_onednn", mb / ma}, {"onednn_kernels", ka},
          {"xnnpack_kernels", kb}};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> packages;
  int threads = 1, runs = 30, repeats = 5;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--package") packages.push_back(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--runs") runs = std::stoi(next());
    else if (a == "--repeats") repeats = std::stoi(next());
    else if (a == "--json") out = next();
    else {
      std::cerr << "usage: bench_backends [--package P.dyn]... [--threads N] [--runs R] [--repeats K] [--json OUT]\n";
      return 2;
    }
  }
  if (!dyndnn::engine::hasOneDnn() || !dyndnn::engine::hasXnnpack()) {
    std::cerr << "bench_backends: this build lacks oneDNN or XNNPACK\n";
    return 77;
  }
  at::NoGradGuard no_grad;
  at::manual_seed(0);
  dyndnn::engine::useThreads(threads);
  std::vector<Case> cases = opCases();
  // Sub-networks through the families' lowering, as DynamicModel compiles them.
  for (const auto& path : packages) {
    auto pkg = dyndnn::format::Package::open(path);
    auto supernet = dyndnn::nn::openSupernet(pkg);
    const std::string stem = path.substr(path.find_last_of('/') + 1);
    for (std::size_t i = 0; i < pkg.operating_points.size(); ++i) {
      const auto& op = pkg.operating_points[i];
      auto g = supernet->lower(op.config, static_cast<int>(i));
      const double macs = static_cast<double>(g.totalMacs());
      cases.push_back({stem + " " + op.name, std::move(g), macs});
    }
  }
  json results = json::array();
  fmt::print("{:<34} {:>10} {:>10} {:>8}   (median of {} interleaved runs; worst..median over {} repeats, {} thread(s))\n",
             "case", "oneDNN ms", "XNNPACK ms", "ratio", runs, repeats, threads);
  for (const auto& c : cases) {
    json reps = json::array();
    std::vector<double> ratios, oa, ob;
    for (int r = 0; r < repeats; ++r) {
      auto m = measure(c.graph, runs);
      ratios.push_back(m["xnnpack_over_onednn"]);
      oa.push_back(m["onednn_ms"]);
      ob.push_back(m["xnnpack_ms"]);
      reps.push_back(std::move(m));
    }
    const double ratio_med = bench::percentile(ratios, 0.5), ratio_worst = *std::max_element(ratios.begin(), ratios.end());
    const double a_med = bench::percentile(oa, 0.5), b_med = bench::percentile(ob, 0.5);
    fmt::print("{:<34} {:>10.3f} {:>10.3f} {:>8.2f}   (worst {:.2f}; oneDNN {:.1f}, XNNPACK {:.1f} GMAC/s)\n", c.name,
               a_med, b_med, ratio_med, ratio_worst, c.macs / a_med / 1e6, c.macs / b_med / 1e6);
    results.push_back({{"case", c.name},
                       {"macs", c.macs},
                       {"onednn_ms_median", a_med},
                       {"xnnpack_ms_median", b_med},
                       {"xnnpack_over_onednn_median", ratio_med},
                       {"xnnpack_over_onednn_worst", ratio_worst},
                       {"repeats", reps}});
  }
  if (!out.empty()) {
    std::ofstream f(out);
    f << json{{"threads", threads}, {"runs", runs}, {"repeats", repeats}, {"cases", results}}.dump(2) << "\n";
    fmt::print("wrote {}\n", out);
  }
  return 0;
}
