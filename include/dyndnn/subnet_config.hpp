#pragma once
/// \file subnet_config.hpp
/// A sub-network of a supernet, in the family's dict form (OFA's for OFA-MobileNetV3).

#include <map>
#include <string>
#include <vector>

namespace dyndnn {

/// One sub-network: the family's elastic choices by name, plus the input resolution every family has.
///   OFA MobileNetV3: "ks" and "e" per elastic block (20 each, including the blocks the depth leaves out, as
///                    OFA's `sample_active_subnet()` writes them), "d" per stage (5).
///   group_cnn:       "g", the number of active channel groups.
/// A one-element list stands for a scalar: the family broadcasts it to every block or stage once validated
/// (as OFA's `set_active_subnet(ks=7, e=6, d=4)` does). Which knobs exist and what they allow is the family's
/// business: DynamicModel::setSubnet() validates a config and says what is wrong.
///
/// A plain value type; thread-safe as any const value is.
struct SubnetConfig {
  std::map<std::string, std::vector<int>> knobs;  ///< knob name -> values
  int r = 0;                                      ///< input resolution (square); 0 = the family's default

  /// The values of `knob`; throws InvalidArgument naming it when the config has no such knob.
  const std::vector<int>& at(const std::string& knob) const;
  bool has(const std::string& knob) const { return knobs.count(knob) != 0; }

  /// Parse the dict form, e.g. `{"ks": [...], "e": [...], "d": [...], "r": 224}` or `{"g": 2}`: an object of
  /// integers and lists of integers. Throws InvalidArgument on malformed JSON or ill-typed fields.
  static SubnetConfig fromJson(const std::string& json_text);
  /// The same dict form as compact JSON (one-element lists as scalars).
  std::string toJson() const;
  /// A short human-readable summary such as "d[4x5] e[6x20] ks[7x20] r224".
  std::string summary() const;

  bool operator==(const SubnetConfig& o) const { return knobs == o.knobs && r == o.r; }
  bool operator!=(const SubnetConfig& o) const { return !(*this == o); }
};

}  // namespace dyndnn
