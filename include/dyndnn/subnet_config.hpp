#pragma once
/// \file subnet_config.hpp
/// A sub-network of an elastic supernet, in Once-for-All's own dict form.

#include <string>
#include <vector>

namespace dyndnn {

/// One sub-network: per-block kernel size and expand ratio (one entry per elastic block, including the
/// blocks that the depth leaves out, as OFA's `sample_active_subnet()` writes them), per-stage depth, and
/// the input resolution. For OFA MobileNetV3: 20 kernel sizes, 20 expand ratios, 5 depths.
///
/// A plain value type; thread-safe as any const value is.
struct SubnetConfig {
  std::vector<int> ks;  ///< kernel size per elastic block
  std::vector<int> e;   ///< expand ratio per elastic block
  std::vector<int> d;   ///< depth per stage
  int r = 0;            ///< input resolution (square)

  /// Parse OFA's dict form `{"ks": [...], "e": [...], "d": [...], "r": 224}` from JSON text. A scalar
  /// in place of a list is broadcast to every block/stage once validated against a supernet (as OFA's
  /// `set_active_subnet(ks=7, e=6, d=4)` does); here it is kept as a one-element list.
  /// Throws InvalidArgument on malformed JSON or missing/ill-typed fields.
  static SubnetConfig fromJson(const std::string& json_text);
  /// The same dict form as compact JSON.
  std::string toJson() const;
  /// A short human-readable summary such as "k[7x20] e[6x20] d[4,4,4,4,4] r224".
  std::string summary() const;

  bool operator==(const SubnetConfig& o) const { return ks == o.ks && e == o.e && d == o.d && r == o.r; }
  bool operator!=(const SubnetConfig& o) const { return !(*this == o); }
};

}  // namespace dyndnn
