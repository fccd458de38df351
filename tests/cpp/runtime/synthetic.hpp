#pragma once
// Synthetic profiles for the policy tests: three operating points on two frequencies.

#include "dyndnn/runtime.hpp"

namespace dyndnn::runtime::test {

// ops small/medium/large: accuracy 70/75/80; latency at freq 2 (high): 5/10/20 ms; at freq 1 (low) x1.6.
// power: high 4 W busy, low 1.5 W busy; idle 0.5 W.
inline Profile syntheticProfile() {
  Profile p;
  p.device = "synthetic";
  const char* names[] = {"small", "medium", "large"};
  const double acc[] = {70, 75, 80}, ms[] = {5, 10, 20}, macs[] = {50e6, 100e6, 200e6};
  for (int f = 1; f <= 2; ++f)
    for (int i = 0; i < 3; ++i) {
      ProfileEntry e;
      e.op = names[i];
      e.hw = {{"freq", f}};
      e.macs = macs[i];
      e.accuracy = acc[i];
      e.latency_ms = f == 2 ? ms[i] : ms[i] * 1.6;
      e.latency_std_ms = 0.02 * e.latency_ms;
      e.power_w = f == 2 ? 4.0 : 1.5;
      e.idle_power_w = 0.5;
      p.entries.push_back(e);
    }
  return p;
}

inline Target budget(double ms) {
  Target t;
  t.latency_ms = ms;
  return t;
}

}  // namespace dyndnn::runtime::test
