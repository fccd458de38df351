#include "engine/execution_plan.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <omp.h>

#include <fmt/format.h>

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

PlanPtr compile(const Graph& graph, const at::Device& device, Backend backend) {
  at::NoGradGuard no_grad;
  if (graph.output() < 0) throw InvalidArgument("op graph has no output (call setOutput)");
  if (backend == Backend::Auto) backend = device.is_cpu() && hasOneDnn() ? Backend::OneDnn : Backend::ATen;
  if (!device.is_cpu() && backend != Backend::ATen)
    throw InvalidArgument(fmt::format("backend '{}' runs on the CPU only; use Backend::ATen for {}",
                                      backendName(backend), device.str()));
  switch (backend) {
    case Backend::Reference: return compileReference(graph);
    case Backend::OneDnn:
      if (!hasOneDnn()) throw InvalidArgument("this dyndnn build has no oneDNN backend; use Backend::ATen");
      return compileOneDnn(graph);
    case Backend::Xnnpack:
      if (!hasXnnpack()) throw InvalidArgument("this dyndnn build has no XNNPACK backend; use Backend::ATen");
      return compileXnnpack(graph);
    default: return compileATen(graph, device);
  }
}

}  // namespace dyndnn::engine
