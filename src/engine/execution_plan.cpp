#include "engine/execution_plan.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <omp.h>

namespace dyndnn::engine {

void useThreads(int threads) {
  if (threads > 0) {
    omp_set_num_threads(threads);
  } else {
    at::init_num_threads();
  }
}

std::shared_ptr<const ExecutionPlan> buildPlan(const nn::StaticSubnet& net, const at::Device& device,
                                               Backend backend) {
  at::NoGradGuard no_grad;
  if (device.is_cpu() && backend != Backend::ATen && hasOneDnn()) return buildOneDnnPlan(net);
  return buildATenPlan(fold(net), device);
}

}  // namespace dyndnn::engine
