#include "nvml_library.hpp"

#include <dlfcn.h>

#include <algorithm>

#include <fmt/format.h>

#include "dyndnn/error.hpp"

namespace dyndnn::hw {
namespace {
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlClockGraphics = 0;  // nvmlClockType_t NVML_CLOCK_GRAPHICS

template <typename F>
void resolve(void* handle, const char* symbol, F& fn, const std::string& library, bool required = true) {
  fn = reinterpret_cast<F>(::dlsym(handle, symbol));
  if (!fn && required)
    throw HardwareError(fmt::format("{} lacks {}: the NVIDIA driver is too old; update it or choose another backend",
                                    library, symbol));
}
}  // namespace

std::shared_ptr<NvmlLibrary> NvmlLibrary::load(const std::string& library) {
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = ::dlerror();
    throw HardwareError(fmt::format("NVML is unavailable: cannot load {} ({}); install the NVIDIA driver or choose "
                                    "another backend",
                                    library, err ? err : "unknown error"));
  }
  std::shared_ptr<NvmlLibrary> lib(new NvmlLibrary());
  lib->handle_ = handle;
  lib->library_ = library;
  resolve(handle, "nvmlInit_v2", lib->init_, library);
  resolve(handle, "nvmlShutdown", lib->shutdown_, library);
  resolve(handle, "nvmlErrorString", lib->error_string_, library);
  resolve(handle, "nvmlDeviceGetCount_v2", lib->count_, library);
  resolve(handle, "nvmlDeviceGetHandleByIndex_v2", lib->by_index_, library);
  resolve(handle, "nvmlDeviceGetName", lib->name_, library);
  resolve(handle, "nvmlDeviceGetPowerUsage", lib->power_, library);
  resolve(handle, "nvmlDeviceGetTotalEnergyConsumption", lib->energy_, library, false);
  resolve(handle, "nvmlDeviceGetSupportedMemoryClocks", lib->mem_clocks_, library);
  resolve(handle, "nvmlDeviceGetSupportedGraphicsClocks", lib->gfx_clocks_, library);
  resolve(handle, "nvmlDeviceGetClockInfo", lib->clock_info_, library);
  resolve(handle, "nvmlDeviceSetGpuLockedClocks", lib->lock_, library, false);
  resolve(handle, "nvmlDeviceResetGpuLockedClocks", lib->reset_, library, false);
  const int rc = lib->init_();
  if (rc != kNvmlSuccess) {
    lib->init_ = nullptr;  // no shutdown for a failed init
    throw HardwareError(fmt::format("NVML is unavailable: nvmlInit failed ({}); is an NVIDIA GPU and driver present?",
                                    lib->error_string_(rc)));
  }
  return lib;
}

NvmlLibrary::~NvmlLibrary() {
  if (init_ && shutdown_) shutdown_();
  if (handle_) ::dlclose(handle_);
}

void NvmlLibrary::check(int rc, const char* what) const {
  if (rc == kNvmlSuccess) return;
  const char* reason = error_string_ ? error_string_(rc) : "unknown";
  const char* remedy = rc == 4 /* NVML_ERROR_NO_PERMISSION */ ? "run as root" : "choose another backend";
  throw HardwareError(fmt::format("NVML {} failed: {} ({}); {}", what, reason, library_, remedy));
}

unsigned NvmlLibrary::deviceCount() const {
  unsigned n = 0;
  check(count_(&n), "nvmlDeviceGetCount");
  return n;
}

void* NvmlLibrary::device(unsigned index) const {
  const unsigned n = deviceCount();
  if (index >= n) throw HardwareError(fmt::format("NVML has {} device(s); there is no device {}", n, index));
  void* dev = nullptr;
  check(by_index_(index, &dev), "nvmlDeviceGetHandleByIndex");
  return dev;
}

std::string NvmlLibrary::name(void* dev) const {
  char buf[96] = {};
  check(name_(dev, buf, sizeof buf), "nvmlDeviceGetName");
  return buf;
}

double NvmlLibrary::powerWatts(void* dev) const {
  unsigned mw = 0;
  check(power_(dev, &mw), "nvmlDeviceGetPowerUsage");
  return mw / 1e3;
}

std::optional<double> NvmlLibrary::energyJoules(void* dev) const {
  unsigned long long mj = 0;
  if (!energy_ || energy_(dev, &mj) != kNvmlSuccess) return std::nullopt;  // pre-Volta: integrate power
  return static_cast<double>(mj) / 1e3;
}

std::vector<std::int64_t> NvmlLibrary::graphicsClocksMHz(void* dev) const {
  unsigned mem[64], nmem = 64;
  check(mem_clocks_(dev, &nmem, mem), "nvmlDeviceGetSupportedMemoryClocks");
  if (nmem == 0) return {};
  const unsigned top_mem = *std::max_element(mem, mem + nmem);
  unsigned gfx[512], ngfx = 512;
  check(gfx_clocks_(dev, top_mem, &ngfx, gfx), "nvmlDeviceGetSupportedGraphicsClocks");
  std::vector<std::int64_t> clocks(gfx, gfx + ngfx);
  std::sort(clocks.begin(), clocks.end());
  clocks.erase(std::unique(clocks.begin(), clocks.end()), clocks.end());
  return clocks;
}

std::int64_t NvmlLibrary::currentGraphicsClockMHz(void* dev) const {
  unsigned mhz = 0;
  check(clock_info_(dev, kNvmlClockGraphics, &mhz), "nvmlDeviceGetClockInfo");
  return mhz;
}

void NvmlLibrary::lockGraphicsClocks(void* dev, unsigned min_mhz, unsigned max_mhz) const {
  if (!lock_) throw HardwareError(library_ + " cannot lock clocks (driver too old); update the driver");
  check(lock_(dev, min_mhz, max_mhz), "nvmlDeviceSetGpuLockedClocks");
}

void NvmlLibrary::resetGraphicsClocks(void* dev) const {
  if (!reset_) throw HardwareError(library_ + " cannot reset locked clocks (driver too old); run nvidia-smi -rgc");
  check(reset_(dev), "nvmlDeviceResetGpuLockedClocks");
}

}  // namespace dyndnn::hw
