#include "engine/op_check.hpp"

#include <ATen/Context.h>
#include <ATen/core/grad_mode.h>

#include <catch2/catch.hpp>

#include "engine/execution_plan.hpp"
#include "engine/reference.hpp"
#include "fixtures.hpp"

namespace dyndnn::test {

at::Tensor randomInput(const engine::Graph& g, std::int64_t batch) {
  auto shape = g.inputShape();
  shape[0] = batch;
  return at::randn(shape);
}

at::Tensor randomWeight(std::vector<std::int64_t> shape) {
  std::int64_t fan_in = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  return at::randn(shape) / std::sqrt(static_cast<double>(std::max<std::int64_t>(fan_in, 1)));
}

void checkBackends(const engine::Graph& g, const std::string& what, bool batched, double min_dependence) {
  at::NoGradGuard no_grad;
  INFO(what << "\n" << g.text());
  std::vector<engine::PlanPtr> plans;
  if (engine::hasOneDnn()) plans.push_back(engine::compile(g, at::kCPU, engine::Backend::OneDnn));
  if (engine::hasXnnpack()) plans.push_back(engine::compile(g, at::kCPU, engine::Backend::Xnnpack));
  plans.push_back(engine::compile(g, at::kCPU, engine::Backend::ATen));
  const bool cuda = at::hasCUDA();
  if (cuda) at::globalContext().setAllowTF32CuDNN(false);  // FP32 on the GPU too: TF32 alone is ~1e-3 off
  if (cuda) plans.push_back(engine::compile(g, at::Device(at::kCUDA), engine::Backend::ATen));
  const auto a = randomInput(g, 1), b = randomInput(g, batched ? 2 : 1);
  const auto ref_a = engine::runReference(g, a), ref_b = engine::runReference(g, b);
  CHECK(relativeError(ref_b.narrow(0, 0, 1), ref_a) > min_dependence);  // the output depends on the input
  for (std::size_t p = 0; p < plans.size(); ++p) {
    const auto& plan = plans[p];
    const bool on_gpu = cuda && p + 1 == plans.size();
    INFO("backend " << plan->backend() << (on_gpu ? " (CUDA)" : "") << "\n" << plan->describe());
    auto run = [&](const at::Tensor& x) { return on_gpu ? plan->run(x.cuda()).cpu() : plan->run(x); };
    const auto out_a = run(a), out_b = run(b);
    REQUIRE(out_a.sizes() == ref_a.sizes());
    REQUIRE(out_b.sizes() == ref_b.sizes());
    CHECK(relativeError(out_a, ref_a) < kOpTolerance);
    CHECK(relativeError(out_b, ref_b) < kOpTolerance);
  }
}

}  // namespace dyndnn::test
