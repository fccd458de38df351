#pragma once
// ExecutionPlan: one op graph compiled once for one backend and device (passes applied, constants prepacked
// in the layout the backend's kernels want). Immutable once built; run() may be called from several threads
// at once. Backends implement ops, not networks: every family's graph compiles on every backend.

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph.hpp"

namespace dyndnn::engine {

/// Size the calling thread's OpenMP team, which oneDNN and ATen's CPU kernels run on: `threads` > 0 for
/// this thread only (OpenMP's thread count is per calling thread), 0 for LibTorch's process-wide setting.
void useThreads(int threads);

enum class Backend {
  Auto,       // CPU: oneDNN unless it runs a reference kernel for some node, then XNNPACK; else ATen. CUDA: ATen
  Reference,  // the unoptimised graph through eager ATen (CPU): the oracle
  OneDnn,     // CPU
  ATen,       // the optimised graph through ATen: cuDNN on CUDA (channels-last), the portable CPU fallback
  Xnnpack,    // CPU: XNNPACK's operators (NEON on ARM), ATen for the ops it lacks
};

const char* backendName(Backend b);
/// The backend of a name backendName() gives; InvalidArgument (listing the names) for any other.
Backend backendNamed(const std::string& name);
/// True for a kernel name of a library's portable reference code (oneDNN's "gemm:ref", "ref:any").
bool isReferenceKernel(const std::string& kernel);

class ExecutionPlan {
 public:
  virtual ~ExecutionPlan() = default;
  /// The graph's output for an input of the graph's input shape with any batch, on the plan's device, on the
  /// calling thread's OpenMP team (see useThreads).
  virtual at::Tensor run(const at::Tensor& input) const = 0;
  /// Bytes the plan holds (constants in their packed form plus one activation workspace).
  virtual std::size_t bytes() const = 0;
  /// "reference", "onednn", "aten" or "xnnpack".
  virtual const char* backend() const = 0;

  const Shape& inputShape() const { return graph_.inputShape(); }
  /// The compiled graph (constants left out) and, per node, the kernel it runs on.
  const Graph& graph() const { return graph_; }
  const std::vector<std::string>& kernels() const { return kernels_; }
  std::string describe() const { return graph_.text(&kernels_); }

 protected:
  ExecutionPlan(const Graph& compiled, std::vector<std::string> kernels)
      : graph_(compiled.skeleton()), kernels_(std::move(kernels)) {}

 private:
  Graph graph_;
  std::vector<std::string> kernels_;
};

using PlanPtr = std::shared_ptr<const ExecutionPlan>;

/// True when this build has the oneDNN backend.
bool hasOneDnn();
/// True when this build has the XNNPACK backend.
bool hasXnnpack();
/// Compile `graph` for `device`. Throws InvalidArgument for a backend the device or build cannot run, and
/// dyndnn::Error (never a oneDNN or ATen error) when a backend cannot build a node.
PlanPtr compile(const Graph& graph, const at::Device& device, Backend backend = Backend::Auto);

/// The backends' entry points (compile() chooses).
PlanPtr compileReference(const Graph& graph);
PlanPtr compileATen(const Graph& graph, const at::Device& device);
PlanPtr compileOneDnn(const Graph& graph);
PlanPtr compileXnnpack(const Graph& graph);

}  // namespace dyndnn::engine
