#pragma once
// ExecutionPlan: one sub-network materialised once for one device (weights cropped, sliced, BN folded,
// prepacked for the backend). Immutable once built; run() may be called from several threads at once.

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>
#include <string>

#include "dyndnn/subnet_config.hpp"
#include "engine/folded_subnet.hpp"

namespace dyndnn::engine {

/// Size the calling thread's OpenMP team, which oneDNN and ATen's CPU kernels run on: `threads` > 0 for
/// this thread only (OpenMP's thread count is per calling thread), 0 for LibTorch's process-wide setting.
void useThreads(int threads);

class ExecutionPlan {
 public:
  virtual ~ExecutionPlan() = default;
  /// Logits [N, classes] for an NCHW float tensor already at config().r, on the plan's device, on the
  /// calling thread's OpenMP team (see useThreads).
  virtual at::Tensor run(const at::Tensor& input) const = 0;
  /// Bytes the plan holds (weights in their packed form plus one activation workspace).
  virtual std::size_t bytes() const = 0;
  /// "onednn" or "aten".
  virtual const char* backend() const = 0;
  const SubnetConfig& config() const { return config_; }

 protected:
  explicit ExecutionPlan(SubnetConfig config) : config_(std::move(config)) {}

 private:
  SubnetConfig config_;
};

enum class Backend { Auto, OneDnn, ATen };

/// True when this build has the oneDNN backend.
bool hasOneDnn();
/// Build a plan for `device` (CPU: oneDNN when available unless `backend` says ATen; CUDA: ATen/cuDNN).
std::shared_ptr<const ExecutionPlan> buildPlan(const nn::StaticSubnet& net, const at::Device& device,
                                               Backend backend = Backend::Auto);

/// The ATen plan (any device; cuDNN on CUDA, channels-last there).
std::shared_ptr<const ExecutionPlan> buildATenPlan(FoldedSubnet net, const at::Device& device);
/// The oneDNN plan (CPU); only when hasOneDnn(). Folds and packs one layer at a time.
std::shared_ptr<const ExecutionPlan> buildOneDnnPlan(const nn::StaticSubnet& net);

}  // namespace dyndnn::engine
