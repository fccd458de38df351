// A stand-in for libnvidia-ml.so.1 with the same C entry points, so the NVML backend's dlopen/dlsym path,
// unit conversions and clock-locking opt-in are exercised on machines without an NVIDIA GPU. It models one
// device; fake_nvml_* functions let the test inspect and steer it.

#include <cstring>

namespace {
unsigned g_locked_min = 0, g_locked_max = 0;
bool g_initialised = false;
unsigned long long g_energy_mj = 5000000;
int g_lock_result = 0;
int g_device_token = 1;
}  // namespace

extern "C" {

int nvmlInit_v2() {
  g_initialised = true;
  return 0;
}
int nvmlShutdown() {
  g_initialised = false;
  return 0;
}
const char* nvmlErrorString(int rc) { return rc == 4 ? "Insufficient Permissions" : rc == 0 ? "Success" : "Unknown Error"; }
int nvmlDeviceGetCount_v2(unsigned* n) {
  *n = 1;
  return g_initialised ? 0 : 1;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** dev) {
  if (index != 0) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *dev = &g_device_token;
  return 0;
}
int nvmlDeviceGetName(void*, char* name, unsigned len) {
  std::strncpy(name, "Fake GPU", len);
  return 0;
}
int nvmlDeviceGetPowerUsage(void*, unsigned* mw) {
  *mw = 71250;
  return 0;
}
int nvmlDeviceGetTotalEnergyConsumption(void*, unsigned long long* mj) {
  *mj = g_energy_mj;
  g_energy_mj += 1500;  // 1.5 J per call
  return 0;
}
int nvmlDeviceGetSupportedMemoryClocks(void*, unsigned* count, unsigned* clocks) {
  const unsigned mem[] = {2619, 1593, 405};
  if (*count < 3) return 7;  // NVML_ERROR_INSUFFICIENT_SIZE
  *count = 3;
  std::memcpy(clocks, mem, sizeof mem);
  return 0;
}
int nvmlDeviceGetSupportedGraphicsClocks(void*, unsigned mem_mhz, unsigned* count, unsigned* clocks) {
  if (mem_mhz != 2619) return 2;  // only the top memory clock is asked for
  const unsigned gfx[] = {1980, 1755, 1410, 1095, 705, 345};  // NVML lists them descending
  *count = 6;
  std::memcpy(clocks, gfx, sizeof gfx);
  return 0;
}
int nvmlDeviceGetClockInfo(void*, int type, unsigned* mhz) {
  *mhz = type == 0 ? (g_locked_max ? g_locked_max : 1410) : 0;
  return 0;
}
int nvmlDeviceSetGpuLockedClocks(void*, unsigned min_mhz, unsigned max_mhz) {
  if (g_lock_result != 0) return g_lock_result;
  g_locked_min = min_mhz;
  g_locked_max = max_mhz;
  return 0;
}
int nvmlDeviceResetGpuLockedClocks(void*) {
  g_locked_min = g_locked_max = 0;
  return 0;
}

// Test controls.
unsigned fake_nvml_locked_max() { return g_locked_max; }
void fake_nvml_set_lock_result(int rc) { g_lock_result = rc; }
}
