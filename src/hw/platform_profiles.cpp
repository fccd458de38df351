// Ready platform profiles from FACTS section 5. Where the reference gives no number (Xavier NX voltages and
// capacitances), the value is an assumption and the profile's provenance says so.

#include "dyndnn/sim/platform.hpp"

namespace dyndnn::hw {
namespace {

std::vector<VoltagePoint> linearVoltage(const std::vector<std::int64_t>& freqs, double mv_lo, double mv_hi) {
  std::vector<VoltagePoint> opps;
  const double lo = static_cast<double>(freqs.front()), hi = static_cast<double>(freqs.back());
  for (auto f : freqs) opps.push_back({f, mv_lo + (mv_hi - mv_lo) * (static_cast<double>(f) - lo) / (hi - lo)});
  return opps;
}

// exynos5800.dtsi voltage bands: every 100 MHz step from `from_mhz` up to `to_mhz` at `mv`.
void band(std::vector<VoltagePoint>& opps, int from_mhz, int to_mhz, double mv) {
  for (int f = from_mhz; f <= to_mhz; f += 100) opps.push_back({static_cast<std::int64_t>(f) * 1000, mv});
}

}  // namespace

PlatformProfile xavierNxProfile() {
  PlatformProfile p;
  p.name = "jetson-xavier-nx";
  std::vector<std::int64_t> cpu;
  for (std::int64_t f = 115200; f <= 1881600; f += 76800) cpu.push_back(f);  // Carmel 76.8 MHz steps
  cpu.push_back(1907200);
  PowerDomainModel c;
  c.name = "cpu";
  c.unit = "kHz";
  c.cpus = {0, 1, 2, 3, 4, 5};
  c.opps = linearVoltage(cpu, 600, 1000);
  c.capacitance = 500;  // assumed: ~1 W per Carmel core at 1.9 GHz and 1.0 V
  c.static_watts = 0.3;
  c.initial_freq = 1420800;
  PowerDomainModel g;
  g.name = "gpu";
  g.unit = "Hz";
  g.opps = linearVoltage({114750000, 204000000, 306000000, 408000000, 510000000, 599250000, 701250000, 752250000,
                          803250000, 854250000, 905250000, 956250000, 1007250000, 1058250000, 1109250000},
                         600, 1000);
  g.capacitance = 4500;  // assumed: ~5 W for the 384-core Volta GPU at 1.1 GHz and 1.0 V
  g.static_watts = 0.5;
  g.initial_freq = 306000000;
  p.domains = {c, g};
  p.provenance =
      "frequencies: nvpmodel_t194_p3668.conf and the Carmel 76.8 MHz table (FACTS 5); voltages (linear 0.6-1.0 V), "
      "capacitances (CPU 500, GPU 4500) and static power (0.3 W, 0.5 W) are ASSUMED";
  return p;
}

PlatformProfile twoCoreProfile() {
  PlatformProfile p;
  p.name = "two-core CPU (like the development VM: no DVFS)";
  PowerDomainModel d;
  d.name = "cpu";
  d.unit = "kHz";
  d.cpus = {0, 1};
  d.opps = {{2000000, 1000}};
  d.capacitance = 300;
  d.static_watts = 0.5;
  d.initial_freq = 2000000;
  p.domains = {d};
  p.provenance = "ASSUMED: one 2 GHz level, C = 300, 0.5 W static";
  return p;
}

PlatformProfile odroidXu3Profile() {
  PlatformProfile p;
  p.name = "odroid-xu3";
  PowerDomainModel a7;
  a7.name = "a7";
  a7.unit = "kHz";
  a7.cpus = {0, 1, 2, 3};
  band(a7.opps, 200, 300, 900);
  band(a7.opps, 400, 700, 1000);
  band(a7.opps, 800, 1000, 1100);
  band(a7.opps, 1100, 1300, 1250);
  band(a7.opps, 1400, 1400, 1275);
  a7.capacitance = 90;
  a7.static_watts = 0.03;
  a7.initial_freq = 1400000;
  PowerDomainModel a15;
  a15.name = "a15";
  a15.unit = "kHz";
  a15.cpus = {4, 5, 6, 7};
  band(a15.opps, 200, 800, 900);
  band(a15.opps, 900, 1200, 1000);
  band(a15.opps, 1300, 1500, 1100);
  band(a15.opps, 1600, 1700, 1250);
  band(a15.opps, 1800, 1800, 1237.5);
  band(a15.opps, 1900, 1900, 1262.5);
  band(a15.opps, 2000, 2000, 1312.5);
  a15.capacitance = 310;
  a15.static_watts = 0.15;
  a15.initial_freq = 2000000;
  p.domains = {a7, a15};
  p.provenance =
      "OPPs: exynos5800.dtsi; C = 90 (A7) / 310 (A15) from the Linux energy model (FACTS 5); static power "
      "(0.03 W A7, 0.15 W A15) is ASSUMED";
  return p;
}

PlatformProfile jetsonNanoProfile() {
  PlatformProfile p;
  p.name = "jetson-nano";
  PowerDomainModel c;
  c.name = "cpu";
  c.unit = "kHz";
  c.cpus = {0, 1, 2, 3};
  // The L4T cpufreq table of the Nano's Cortex-A57 cluster (102 MHz to 1.48 GHz).
  c.opps = linearVoltage({102000, 204000, 307200, 403200, 518400, 614400, 710400, 825600, 921600, 1036800, 1132800,
                          1224000, 1326000, 1428000, 1479000},
                         800, 1100);
  c.capacitance = 370;  // assumed: ~0.6 W per A57 core at 1.48 GHz and 1.1 V
  c.static_watts = 0.2;
  c.initial_freq = 1479000;
  PowerDomainModel g;
  g.name = "gpu";
  g.unit = "Hz";
  g.opps = linearVoltage({76800000, 153600000, 230400000, 307200000, 384000000, 460800000, 537600000, 614400000,
                          691200000, 768000000, 844800000, 921600000},
                         800, 1100);
  g.capacitance = 3000;  // assumed: ~3.3 W for the 128-core Maxwell GPU at 921.6 MHz and 1.1 V
  g.static_watts = 0.3;
  g.initial_freq = 921600000;
  p.domains = {c, g};
  p.provenance =
      "frequencies: the Nano's L4T cpufreq (A57, 102-1479 MHz) and GPU devfreq (76.8-921.6 MHz) tables; voltages "
      "(linear 0.8-1.1 V), capacitances (A57 370, GPU 3000) and static power (0.2 W, 0.3 W) are ASSUMED";
  return p;
}

}  // namespace dyndnn::hw
