#pragma once
/// \file types.hpp
/// Plain value types that every layer shares (package facts, operating points, metrics, input spec, image
/// views, plan-cache counters): no LibTorch, no runtime manager, no hardware layer, so the package reader, the
/// model families and the engine can use them without depending on the DynamicModel facade.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dyndnn/subnet_config.hpp"

namespace dyndnn {

/// Counters of the plan cache (prepared sub-networks).
struct PlanCacheStats {
  std::size_t hits = 0, misses = 0, evictions = 0, builds = 0;
  std::size_t bytes = 0, entries = 0, budget = 0;
};

/// What a sub-network costs and how good it is. accuracy is in percent (top-1) when the package knows it.
struct Metrics {
  std::int64_t macs = 0;
  std::int64_t params = 0;
  std::optional<double> accuracy;
};

/// A pre-selected sub-network stored in the package.
struct OperatingPoint {
  std::string name;
  SubnetConfig config;
  bool has_bn_stats = false;  ///< per-subnet BN statistics stored in the package
  Metrics metrics;
};

/// How the model wants its input (from the package).
struct InputSpec {
  int channels = 3;
  std::vector<float> mean, std;
  std::vector<int> resolutions;  ///< the resolutions the supernet supports
  double crop_ratio = 1.0;       ///< images: resize shorter side to ceil(r / crop_ratio), centre-crop r
};

/// A read-only view of an 8-bit image, height x width x channels, rows `row_stride` bytes apart
/// (0 means tightly packed).
struct ImageView {
  const std::uint8_t* data = nullptr;
  int height = 0, width = 0, channels = 0;
  std::size_t row_stride = 0;
};

/// Facts about the loaded package.
struct PackageInfo {
  std::string path;
  std::string family;
  int format_version = 0;
  int num_classes = 0;
  std::uint64_t file_bytes = 0;
  std::size_t num_tensors = 0;
  InputSpec input;
};

}  // namespace dyndnn
