#pragma once
// Copying a HardwareState with map assignment reuses its nodes but rebuilds their keys, and knob names longer
// than the short-string buffer ("simulated.cpu.freq") then allocate on every frame. These assign by key.

#include "dyndnn/runtime.hpp"

namespace dyndnn::runtime {

/// `to` = the entries of `from` whose key `keep` accepts; keys already in `to` keep their nodes (no allocation
/// when the keys are those of the last call, as they are frame after frame).
template <class Keep>
void assignInPlace(HardwareState& to, const HardwareState& from, Keep keep) {
  for (auto it = to.begin(); it != to.end();)
    it = from.count(it->first) && keep(it->first) ? std::next(it) : to.erase(it);
  for (const auto& [k, v] : from)
    if (keep(k)) to[k] = v;
}

inline void assignInPlace(HardwareState& to, const HardwareState& from) {
  assignInPlace(to, from, [](const std::string&) { return true; });
}

}  // namespace dyndnn::runtime
