#pragma once
// NvmlLibrary: the few NVML entry points dyndnn uses, resolved with dlsym from a dlopen'ed handle. The
// signatures are NVML's documented C API; handles are opaque pointers and return codes ints (0 = success).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dyndnn::hw {

class NvmlLibrary {
 public:
  /// Loads and initialises NVML; throws HardwareError naming the library and the remedy.
  static std::shared_ptr<NvmlLibrary> load(const std::string& library);
  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  unsigned deviceCount() const;
  void* device(unsigned index) const;
  std::string name(void* dev) const;
  double powerWatts(void* dev) const;                        // nvmlDeviceGetPowerUsage, mW
  std::optional<double> energyJoules(void* dev) const;       // nvmlDeviceGetTotalEnergyConsumption, mJ; Volta+
  std::vector<std::int64_t> graphicsClocksMHz(void* dev) const;  // at the highest memory clock, ascending
  std::int64_t currentGraphicsClockMHz(void* dev) const;
  void lockGraphicsClocks(void* dev, unsigned min_mhz, unsigned max_mhz) const;
  void resetGraphicsClocks(void* dev) const;

 private:
  NvmlLibrary() = default;
  void check(int rc, const char* what) const;

  void* handle_ = nullptr;
  std::string library_;
  int (*init_)() = nullptr;
  int (*shutdown_)() = nullptr;
  const char* (*error_string_)(int) = nullptr;
  int (*count_)(unsigned*) = nullptr;
  int (*by_index_)(unsigned, void**) = nullptr;
  int (*name_)(void*, char*, unsigned) = nullptr;
  int (*power_)(void*, unsigned*) = nullptr;
  int (*energy_)(void*, unsigned long long*) = nullptr;
  int (*mem_clocks_)(void*, unsigned*, unsigned*) = nullptr;
  int (*gfx_clocks_)(void*, unsigned, unsigned*, unsigned*) = nullptr;
  int (*clock_info_)(void*, int, unsigned*) = nullptr;
  int (*lock_)(void*, unsigned, unsigned) = nullptr;
  int (*reset_)(void*) = nullptr;
};

}  // namespace dyndnn::hw
