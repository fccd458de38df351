#include "api/model_core.hpp"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <chrono>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "engine/preprocess.hpp"

namespace dyndnn {
namespace {

at::Device deviceFor(const ModelOptions& options) {
  if (options.threads < 0 || options.threads > 1024)
    throw InvalidArgument(fmt::format("ModelOptions.threads = {}: use 0 (leave LibTorch's setting) or 1..1024",
                                      options.threads));
  if (options.device != Device::CUDA) return at::Device(at::kCPU);
  if (!at::hasCUDA())
    throw InvalidArgument("ModelOptions.device = CUDA, but this LibTorch build sees no CUDA device; use Device::CPU");
  return at::Device(at::kCUDA);
}

engine::Backend backendFor(const ModelOptions& options) {
  engine::Backend b;
  try {
    b = engine::backendNamed(options.backend);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(std::string("ModelOptions.backend: ") + e.what());
  }
  if (options.device == Device::CUDA && b != engine::Backend::Auto && b != engine::Backend::ATen)
    throw InvalidArgument(fmt::format("ModelOptions.backend = {} runs on the CPU only; with Device::CUDA use \"auto\" "
                                      "or \"aten\"", options.backend));
  if (b == engine::Backend::OneDnn && !engine::hasOneDnn())
    throw InvalidArgument("ModelOptions.backend = onednn, but this dyndnn build has no oneDNN backend; use \"auto\"");
  if (b == engine::Backend::Xnnpack && !engine::hasXnnpack())
    throw InvalidArgument("ModelOptions.backend = xnnpack, but this dyndnn build has no XNNPACK backend (it is built "
                          "when libxnnpack-dev and libpthreadpool-dev are present); use \"auto\"");
  return b;
}

}  // namespace

ModelCore::ModelCore(const std::string& path, const ModelOptions& options)
    : device_(deviceFor(options)),
      backend_(backendFor(options)),
      package_(format::Package::open(path, options.verify_checksum)),
      supernet_(nn::openSupernet(package_)),
      threads_(options.threads),
      cache_(options.plan_cache_bytes) {
  info_ = PackageInfo{package_.path(), package_.family, package_.format_version, supernet_->numClasses(),
                      package_.file.fileBytes(), package_.file.entries().size(), package_.input};
  const auto& ops = package_.operating_points;
  activate(ops.empty() ? byConfig(supernet_->largest()) : byName(ops.front().name));
  package_.file.dropResidentPages();  // validation read every byte; plans hold what they need
  if (options.prefetch_operating_points) {
    std::vector<std::pair<std::string, engine::PlanCache::Builder>> jobs;
    for (std::size_t i = 1; i < ops.size(); ++i) {
      auto r = byName(ops[i].name);
      jobs.emplace_back(r.key, builder(r));
    }
    cache_.prefetch(std::move(jobs));
  }
}

ModelCore::Request ModelCore::byName(const std::string& name) const {
  const auto& ops = package_.operating_points;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (ops[i].name == name) return {name, "op:" + name, ops[i].config, static_cast<int>(i)};
  std::string known;
  for (const auto& op : ops) known += (known.empty() ? "" : ", ") + op.name;
  throw InvalidArgument(fmt::format("no operating point named '{}' in {} (known: {})", name, info_.path,
                                    known.empty() ? "none" : known));
}

ModelCore::Request ModelCore::byConfig(const SubnetConfig& config) const {
  auto n = supernet_->normalise(config);
  return {"", "cfg:" + n.toJson(), n, -1};
}

engine::PlanCache::Builder ModelCore::builder(const Request& r) const {
  return [this, config = r.config, op = r.operating_point] {
    at::NoGradGuard no_grad;
    auto plan = engine::compile(supernet_->lower(config, op), device_, backend_);
    // The plan holds its own packed copy: the supernet pages it read need not stay resident.
    package_.file.dropResidentPages();
    return plan;
  };
}

engine::PlanPtr ModelCore::planFor(const Request& r) { return cache_.get(r.key, builder(r)); }

void ModelCore::activate(const Request& r) {
  auto plan = cache_.get(r.key, builder(r));
  auto next = std::make_shared<const Active>(Active{r.name, r.config, std::move(plan)});
  std::lock_guard<std::mutex> lock(mutex_);
  active_ = std::move(next);
  pending_.reset();  // an explicit blocking switch overrides any pending request
}

void ModelCore::request(const Request& r) {
  auto future = cache_.prepare(r.key, builder(r));
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ = Pending{r.name, r.config, std::move(future)};
  swapIfReadyLocked();
}

bool ModelCore::switchPending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_.has_value();
}

std::string ModelCore::lastSwitchError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_switch_error_;
}

void ModelCore::swapIfReadyLocked() {
  if (!pending_ || pending_->plan.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  try {
    active_ = std::make_shared<const Active>(Active{pending_->name, pending_->config, pending_->plan.get()});
    last_switch_error_.clear();
  } catch (const std::exception& e) {
    last_switch_error_ = e.what();
  }
  pending_.reset();
}

std::shared_ptr<const ModelCore::Active> ModelCore::current() {
  std::lock_guard<std::mutex> lock(mutex_);
  swapIfReadyLocked();
  return active_;
}

std::shared_ptr<const ModelCore::Active> ModelCore::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

at::Tensor ModelCore::run(const Active& a, const at::Tensor& prepared) const {
  at::NoGradGuard no_grad;
  engine::useThreads(threads());
  return a.plan->run(prepared.to(device_)).to(at::kCPU);
}

at::Tensor ModelCore::infer(const at::Tensor& input) {
  auto a = current();
  return run(*a, engine::prepareTensor(input, info_.input.channels, a->config.r));
}

at::Tensor ModelCore::infer(const ImageView& image) {
  auto a = current();
  return run(*a, engine::prepareImage(image, info_.input, a->config.r));
}

void ModelCore::setThreads(int threads) {
  if (threads < 0 || threads > 1024)
    throw InvalidArgument(fmt::format("setThreads({}): use 0 (follow LibTorch's setting) or 1..1024", threads));
  threads_.store(threads, std::memory_order_relaxed);
}

}  // namespace dyndnn
