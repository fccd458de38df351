#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <mutex>

#include <fmt/format.h>

#include "dyndnn/error.hpp"
#include "dyndnn/model.hpp"
#include "engine/preprocess.hpp"
#include "engine/reference_executor.hpp"
#include "format/package.hpp"
#include "nn/elastic_mbv3.hpp"

namespace dyndnn {
namespace {

// The sub-network that infer() runs; replaced as a whole so a running call keeps its own.
struct ActiveSubnet {
  std::string name;
  nn::StaticSubnet net;
};

void moveTo(nn::ConvBnAct& l, const at::Device& d) {
  l.weight = l.weight.to(d);
  for (auto* t : {&l.bn.weight, &l.bn.bias, &l.bn.mean, &l.bn.var}) *t = t->to(d);
}

void moveTo(nn::StaticSubnet& n, const at::Device& d) {
  moveTo(n.stem, d);
  for (auto& b : n.blocks) {
    if (b.expand) moveTo(*b.expand, d);
    moveTo(b.depthwise, d);
    if (b.se)
      for (auto* t : {&b.se->reduce_weight, &b.se->reduce_bias, &b.se->expand_weight, &b.se->expand_bias})
        *t = t->to(d);
    moveTo(b.project, d);
  }
  moveTo(n.final_expand, d);
  for (auto* t : {&n.feature_mix_weight, &n.classifier_weight, &n.classifier_bias}) *t = t->to(d);
}

}  // namespace

struct DynamicModel::Impl {
  Impl(format::Package p, const ModelOptions& o) : package(std::move(p)), supernet(package), options(o) {}

  format::Package package;
  nn::ElasticMbv3 supernet;
  ModelOptions options;
  PackageInfo info;
  at::Device device{at::kCPU};

  mutable std::mutex active_mutex;
  std::shared_ptr<const ActiveSubnet> active;

  std::shared_ptr<const ActiveSubnet> current() const {
    std::lock_guard<std::mutex> lock(active_mutex);
    return active;
  }

  void activate(std::string name, const SubnetConfig& config, const nn::BnStats* stats) {
    auto next = std::make_shared<ActiveSubnet>(ActiveSubnet{std::move(name), supernet.materialise(config, stats)});
    if (!device.is_cpu()) moveTo(next->net, device);
    std::lock_guard<std::mutex> lock(active_mutex);
    active = std::move(next);
  }

  at::Tensor run(const ActiveSubnet& a, const at::Tensor& x) const {
    at::NoGradGuard no_grad;
    return engine::runReference(a.net, x.to(device)).to(at::kCPU);
  }
};

DynamicModel DynamicModel::load(const std::string& path, const ModelOptions& options) {
  if (options.threads < 0 || options.threads > 1024)
    throw InvalidArgument(fmt::format("ModelOptions.threads = {}: use 0 (leave LibTorch's setting) or 1..1024",
                                      options.threads));
  at::Device device(at::kCPU);
  if (options.device == Device::CUDA) {
    if (!at::hasCUDA())
      throw InvalidArgument("ModelOptions.device = CUDA, but this LibTorch build sees no CUDA device; use Device::CPU");
    device = at::Device(at::kCUDA);
  }
  if (options.threads > 0) at::set_num_threads(options.threads);

  auto impl = std::make_unique<Impl>(format::Package::open(path, options.verify_checksum), options);
  impl->device = device;
  auto& pkg = impl->package;
  impl->info = PackageInfo{pkg.path(), pkg.family, pkg.format_version, impl->supernet.arch().n_classes,
                           pkg.file.fileBytes(), pkg.file.entries().size(), pkg.input};
  if (!pkg.operating_points.empty()) {
    const auto& op = pkg.operating_points.front();
    impl->activate(op.name, op.config, op.has_bn_stats ? &impl->supernet.operatingPointStats(0) : nullptr);
  } else {
    const auto& a = impl->supernet.arch();
    SubnetConfig largest{{a.ks_list.back()}, {a.expand_ratio_list.back()}, {a.depth_list.back()},
                         pkg.input.resolutions.back()};
    impl->activate("", impl->supernet.normalise(largest), nullptr);
  }
  return DynamicModel(std::move(impl));
}

DynamicModel::DynamicModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DynamicModel::DynamicModel(DynamicModel&&) noexcept = default;
DynamicModel& DynamicModel::operator=(DynamicModel&&) noexcept = default;
DynamicModel::~DynamicModel() = default;

const PackageInfo& DynamicModel::info() const { return impl_->info; }
const std::vector<OperatingPoint>& DynamicModel::operatingPoints() const { return impl_->package.operating_points; }

void DynamicModel::setSubnet(const std::string& name) {
  const auto& ops = impl_->package.operating_points;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].name == name) {
      impl_->activate(name, ops[i].config, ops[i].has_bn_stats ? &impl_->supernet.operatingPointStats(i) : nullptr);
      return;
    }
  }
  std::string known;
  for (const auto& op : ops) known += (known.empty() ? "" : ", ") + op.name;
  throw InvalidArgument(fmt::format("no operating point named '{}' in {} (known: {})", name, impl_->info.path,
                                    known.empty() ? "none" : known));
}

void DynamicModel::setSubnet(const SubnetConfig& config) { impl_->activate("", normalise(config), nullptr); }

SubnetConfig DynamicModel::activeConfig() const { return impl_->current()->net.config; }
std::string DynamicModel::activeName() const { return impl_->current()->name; }

SubnetConfig DynamicModel::normalise(const SubnetConfig& config) const { return impl_->supernet.normalise(config); }

Metrics DynamicModel::cost(const SubnetConfig& config) const {
  return impl_->supernet.arch().cost(normalise(config));
}

at::Tensor DynamicModel::infer(const at::Tensor& input) const {
  auto a = impl_->current();
  return impl_->run(*a, engine::prepareTensor(input, impl_->info.input.channels, a->net.config.r));
}

at::Tensor DynamicModel::infer(const ImageView& image) const {
  auto a = impl_->current();
  return impl_->run(*a, engine::prepareImage(image, impl_->info.input, a->net.config.r));
}

}  // namespace dyndnn
