#include "engine/execution_plan.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <omp.h>

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "dyndnn/error.hpp"

namespace dyndnn::engine {

void useThreads(int threads) {
  if (threads > 0) {
    omp_set_num_threads(threads);
  } else {
    at::init_num_threads();
  }
}

const char* backendName(Backend b) {
  switch (b) {
    case Backend::Auto: return "auto";
    case Backend::Reference: return "reference";
    case Backend::OneDnn: return "onednn";
    case Backend::ATen: return "aten";
    case Backend::Xnnpack: return "xnnpack";
  }
  return "?";
}

Backend backendNamed(const std::string& name) {
  for (Backend b : {Backend::Auto, Backend::OneDnn, Backend::Xnnpack, Backend::ATen, Backend::Reference})
    if (name == backendName(b)) return b;
  throw InvalidArgument(fmt::format("unknown backend '{}': use auto, onednn, xnnpack, aten or reference", name));
}

bool isReferenceKernel(const std::string& kernel) {
  // oneDNN names its portable C++ loops "ref:any", "gemm:ref", "ref_fused_convolution:any", ...
  static const std::regex ref("(^|[:_ ])ref([:_ ]|$)");
  return std::regex_search(kernel, ref);
}

namespace {

// On the CPU: oneDNN where it has kernels of its own for every node (x86; aarch64 with SVE-512), else XNNPACK
// (NEON-only ARM cores, where oneDNN 2.6 falls back to its reference loops), else ATen.
PlanPtr compileAutoCpu(const Graph& graph) {
  if (hasOneDnn()) {
    auto plan = compileOneDnn(graph);
    const auto& kernels = plan->kernels();
    if (!hasXnnpack() || std::none_of(kernels.begin(), kernels.end(), isReferenceKernel)) return plan;
  }
  return hasXnnpack() ? compileXnnpack(graph) : compileATen(graph, at::Device(at::kCPU));
}

}  // namespace

PlanPtr compile(const Graph& graph, const at::Device& device, Backend backend) {
  at::NoGradGuard no_grad;
  if (graph.output() < 0) throw InvalidArgument("op graph has no output (call setOutput)");
  if (!device.is_cpu() && backend != Backend::ATen && backend != Backend::Auto)
    throw InvalidArgument(fmt::format("backend '{}' runs on the CPU only; use Backend::ATen for {}",
                                      backendName(backend), device.str()));
  switch (backend) {
    case Backend::Auto: return device.is_cpu() ? compileAutoCpu(graph) : compileATen(graph, device);
    case Backend::Reference: return compileReference(graph);
    case Backend::OneDnn:
      if (!hasOneDnn()) throw InvalidArgument("this dyndnn build has no oneDNN backend; use Backend::ATen");
      return compileOneDnn(graph);
    case Backend::Xnnpack:
      if (!hasXnnpack()) throw InvalidArgument("this dyndnn build has no XNNPACK backend; use Backend::ATen");
      return compileXnnpack(graph);
    case Backend::ATen: break;
  }
  return compileATen(graph, device);
}

}  // namespace dyndnn::engine
