// Engine benchmark, driven by benchmarks/run_engine.py. Modes (one JSON object on stdout each):
//   latency PACKAGE PEERS.json RUNS  dyndnn vs frozen TorchScript peers, side by side in this process, at the
//                                   thread counts in PEERS.json; roofline, switching and jitter per thread count
//   switching PACKAGE THREADS RUNS   cached and uncached switching to every operating point alone (no peers)
//   memory PACKAGE MODE [ARG]        peak RSS of: baseline (LibTorch only), dyndnn (ARG = plan cache budget in
//                                   plans), peers (ARG = comma-separated PATH.pt@RESOLUTION, all loaded together)

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>

#include "dyndnn/dyndnn.hpp"

#include "bench_stats.hpp"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

using bench::percentile;

json summary(const std::vector<double>& v) {
  return {{"median_ms", percentile(v, 0.5)}, {"p90_ms", percentile(v, 0.9)}, {"p99_ms", percentile(v, 0.99)},
          {"min_ms", *std::min_element(v.begin(), v.end())}, {"runs", v.size()}};
}

// The static peer as deployed: a traced module, frozen and optimised for inference (oneDNN conversion,
// conv-BN folding, fusion) by LibTorch's own passes.
torch::jit::Module loadPeer(const std::string& path) {
  auto traced = torch::jit::load(path);
  traced.eval();
  auto frozen = torch::jit::freeze(traced);
  return torch::jit::optimize_for_inference(frozen);
}

// The practical compute ceiling: a large 1x1 convolution (1024 -> 1024 channels on 32x32, 2^30 MACs) through
// oneDNN with prepacked weights and blocked layouts, measured at the current thread count.
double rooflineGflops(int runs) {
  using namespace dnnl;
  using tag = memory::format_tag;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  const memory::dim c = 1024, hw = 32;
  memory::desc src({1, c, hw, hw}, memory::data_type::f32, tag::any), wei({c, c, 1, 1}, memory::data_type::f32, tag::any),
      dst({1, c, hw, hw}, memory::data_type::f32, tag::any);
  convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, src, wei, dst, {1, 1},
                              {0, 0}, {0, 0});
  convolution_forward::primitive_desc pd(d, eng);
  memory ms_(pd.src_desc(), eng), mw(pd.weights_desc(), eng), md(pd.dst_desc(), eng);
  std::memset(ms_.get_data_handle(), 0, pd.src_desc().get_size());
  std::memset(mw.get_data_handle(), 0, pd.weights_desc().get_size());
  convolution_forward conv(pd);
  at::init_num_threads();
  std::vector<double> t;
  for (int i = 0; i < runs + 3; ++i) {
    auto a = Clock::now();
    conv.execute(s, {{DNNL_ARG_SRC, ms_}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}});
    s.wait();
    if (i >= 3) t.push_back(ms(a, Clock::now()));
  }
  return 2.0 * c * c * hw * hw / (percentile(t, 0.5) * 1e6);
}

// Switching to `name` from `other`: cached (plan in the cache) and uncached (cache emptied first), request to
// first output, and what that adds to the sub-network's own inference (`own_ms`, its median).
json switchTimes(dyndnn::DynamicModel& model, const std::string& name, const std::string& other, double own_ms) {
  model.setSubnet(name);
  const int r = model.activeConfig().r;
  auto x = at::randn({1, model.info().input.channels, r, r});
  torch::NoGradGuard no_grad;
  std::vector<double> cached_call, cached_total, uncached_total, async_call;
  for (int i = 0; i < 15; ++i) {
    model.setSubnet(other);
    auto a = Clock::now();
    model.setSubnet(name);
    auto b = Clock::now();
    model.infer(x);
    auto c = Clock::now();
    cached_call.push_back(ms(a, b));
    cached_total.push_back(ms(a, c));
  }
  const auto budget = model.planCacheStats().budget;
  auto forgetAllButActive = [&] {
    model.setPlanCacheBudget(0);
    model.setPlanCacheBudget(budget);
  };
  for (int i = 0; i < 5; ++i) {
    model.setSubnet(other);
    forgetAllButActive();
    auto a = Clock::now();
    model.setSubnet(name);
    model.infer(x);
    uncached_total.push_back(ms(a, Clock::now()));
    model.setSubnet(other);
    forgetAllButActive();
    a = Clock::now();
    model.requestSubnet(name);  // asynchronous: returns while the worker builds
    async_call.push_back(ms(a, Clock::now()));
    while (model.switchPending()) model.infer(at::randn({1, model.info().input.channels, 64, 64}));
  }
  return {{"op", name},
          {"inference_median_ms", own_ms},
          {"cached_setSubnet_ms", percentile(cached_call, 0.5)},
          {"cached_request_to_output_ms", percentile(cached_total, 0.5)},
          {"cached_overhead_ms", percentile(cached_total, 0.5) - own_ms},
          {"uncached_request_to_output_ms", percentile(uncached_total, 0.5)},
          {"uncached_overhead_ms", percentile(uncached_total, 0.5) - own_ms},
          {"uncached_overhead_worst_ms", *std::max_element(uncached_total.begin(), uncached_total.end()) - own_ms},
          {"async_request_call_ms", percentile(async_call, 0.5)}};
}

// Switching alone (no peers), for every operating point of PACKAGE at THREADS: a quick loop for work on plan
// building. Each point's own inference median comes from RUNS frames.
json switchingOnly(const std::string& package, int threads, int runs) {
  at::set_num_threads(threads);
  dyndnn::ModelOptions options;
  options.threads = threads;
  auto model = dyndnn::DynamicModel::load(package, options);
  const auto points = model.operatingPoints();
  json out = json::array();
  for (std::size_t k = 0; k < points.size(); ++k) {
    const auto& name = points[k].name;
    model.setSubnet(name);
    auto x = at::randn({1, model.info().input.channels, points[k].config.r, points[k].config.r});
    torch::NoGradGuard no_grad;
    std::vector<double> own;
    for (int i = 0; i < runs + 3; ++i) {
      auto a = Clock::now();
      model.infer(x);
      if (i >= 3) own.push_back(ms(a, Clock::now()));
    }
    out.push_back(switchTimes(model, name, points[(k + 1) % points.size()].name, percentile(own, 0.5)));
  }
  return {{"threads", threads}, {"switching", out}};
}

json latency(const std::string& package, const json& peers, int runs) {
  json out = json::array();
  for (int threads : peers["threads"].get<std::vector<int>>()) {
    at::set_num_threads(threads);
    dyndnn::ModelOptions options;
    options.threads = threads;
    auto model = dyndnn::DynamicModel::load(package, options);
    json rows = json::array();
    std::map<std::string, double> own_median;
    for (const auto& row : peers["rows"]) {
      const auto name = row["op"].get<std::string>();
      model.setSubnet(name);
      const int r = model.activeConfig().r;
      auto x = at::randn({1, model.info().input.channels, r, r});
      auto peer = loadPeer(row["peer"].get<std::string>());
      torch::NoGradGuard no_grad;
      for (int i = 0; i < 10; ++i) {  // warm-up: the profiling executor optimises the frozen graph here
        model.infer(x);
        peer.forward({x});
      }
      auto check = (model.infer(x) - peer.forward({x}).toTensor()).abs().max().item<double>() /
                   peer.forward({x}).toTensor().abs().max().item<double>();
      std::vector<double> ours, theirs;
      for (int i = 0; i < runs; ++i) {  // interleaved, so both see the same machine state
        auto a = Clock::now();
        model.infer(x);
        auto b = Clock::now();
        peer.forward({x});
        auto c = Clock::now();
        ours.push_back(ms(a, b));
        theirs.push_back(ms(b, c));
      }
      const auto macs = model.cost(model.activeConfig()).macs;
      own_median[name] = percentile(ours, 0.5);
      rows.push_back({{"op", name},
                      {"config", json::parse(model.activeConfig().toJson())},
                      {"macs", macs},
                      {"dyndnn", summary(ours)},
                      {"peer", summary(theirs)},
                      {"ratio", percentile(ours, 0.5) / percentile(theirs, 0.5)},
                      {"gflops", 2.0 * macs / (percentile(ours, 0.5) * 1e6)},
                      {"max_rel_diff_vs_peer", check}});
    }

    json switching = json::array();
    for (const auto& row : peers["rows"]) {
      const auto name = row["op"].get<std::string>();
      const auto other = peers["rows"][0]["op"].get<std::string>() == name ? peers["rows"][1]["op"].get<std::string>()
                                                                          : peers["rows"][0]["op"].get<std::string>();
      switching.push_back(switchTimes(model, name, other, own_median[name]));
    }

    // Jitter: a different cached plan every frame; each frame's latency over that plan's own median.
    std::vector<double> normalised;
    std::vector<std::pair<std::string, at::Tensor>> cycle;
    for (const auto& row : peers["rows"]) {
      model.setSubnet(row["op"].get<std::string>());
      const auto& cfg = model.activeConfig();
      cycle.emplace_back(row["op"].get<std::string>(), at::randn({1, model.info().input.channels, cfg.r, cfg.r}));
    }
    for (int i = 0; i < 300; ++i) {
      const auto& [name, x] = cycle[i % cycle.size()];
      auto a = Clock::now();
      model.setSubnet(name);
      model.infer(x);
      normalised.push_back(ms(a, Clock::now()) / own_median[name]);
    }
    out.push_back({{"threads", threads},
                   {"rows", rows},
                   {"roofline_gflops", rooflineGflops(30)},
                   {"switching", switching},
                   {"jitter", {{"frames", normalised.size()},
                               {"p50_normalised", percentile(normalised, 0.5)},
                               {"p99_normalised", percentile(normalised, 0.99)},
                               {"p99_over_median", percentile(normalised, 0.99) / percentile(normalised, 0.5)}}}});
  }
  return out;
}

long statusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field) + 1));
  return -1;
}

json memory(const std::string& package, const std::string& mode, const std::string& arg) {
  at::set_num_threads(1);
  torch::NoGradGuard no_grad;
  auto warm = at::randn({1, 3, 64, 64}).sum().item<float>();  // LibTorch initialised in every mode
  (void)warm;
  if (mode == "dyndnn") {
    dyndnn::ModelOptions options;
    options.prefetch_operating_points = false;  // the budget is set below, in plans of this package
    auto model = dyndnn::DynamicModel::load(package, options);
    std::size_t one_plan = model.activePlanBytes();
    model.setPlanCacheBudget(static_cast<std::size_t>(std::stod(arg) * one_plan));
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& op : model.operatingPoints()) {
        model.setSubnet(op.name);
        model.infer(at::randn({1, model.info().input.channels, op.config.r, op.config.r}));
      }
    auto s = model.planCacheStats();
    return {{"mode", mode}, {"budget_plans", std::stod(arg)}, {"cache_entries", s.entries},
            {"cache_bytes", s.bytes}, {"peak_rss_kb", statusKb("VmHWM:")}, {"rss_kb", statusKb("VmRSS:")}};
  }
  if (mode == "peers") {
    std::vector<std::pair<torch::jit::Module, int>> modules;  // ARG: path@resolution,...
    std::stringstream list(arg);
    std::string item;
    while (std::getline(list, item, ',')) {
      const auto at_sign = item.rfind('@');
      modules.emplace_back(loadPeer(item.substr(0, at_sign)), std::stoi(item.substr(at_sign + 1)));
    }
    for (auto& [m, r] : modules)
      for (int i = 0; i < 2; ++i) m.forward({at::randn({1, 3, r, r})});
    return {{"mode", mode}, {"models", modules.size()}, {"peak_rss_kb", statusKb("VmHWM:")}, {"rss_kb", statusKb("VmRSS:")}};
  }
  return {{"mode", "baseline"}, {"peak_rss_kb", statusKb("VmHWM:")}, {"rss_kb", statusKb("VmRSS:")}};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "latency" && argc == 5) {
      std::ifstream in(argv[3]);
      std::cout << latency(argv[2], json::parse(in), std::stoi(argv[4])).dump(1) << "\n";
    } else if (mode == "switching" && argc == 5) {
      std::cout << switchingOnly(argv[2], std::stoi(argv[3]), std::stoi(argv[4])).dump(1) << "\n";
    } else if (mode == "memory" && argc >= 4) {
      std::cout << memory(argv[2], argv[3], argc > 4 ? argv[4] : "").dump() << "\n";
    } else {
      std::cerr << "usage: bench_engine latency PACKAGE PEERS.json RUNS | switching PACKAGE THREADS RUNS | memory PACKAGE baseline|dyndnn|peers [ARG]\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::cerr << "bench_engine: " << what.substr(0, what.find('\n')) << "\n";
    return 1;
  }
  return 0;
}
