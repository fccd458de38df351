#pragma once
/// \file nvml.hpp
/// Desktop/server NVIDIA GPUs through NVML, loaded at run time with dlopen("libnvidia-ml.so.1"): nothing links
/// against it, and a machine without the driver simply reports it unavailable.
///
/// Locking GPU clocks changes a machine-wide setting and needs root; it happens only with
/// NvmlOptions::allow_clock_locking. Restore resets the locked clocks (nvmlDeviceResetGpuLockedClocks). NVML is
/// not async-signal-safe, so installSignalRestore() does not cover it; after a crash run `nvidia-smi -rgc`.

#include <memory>
#include <string>

#include "dyndnn/hw/governor.hpp"

namespace dyndnn::hw {

struct NvmlOptions {
  std::string library = "libnvidia-ml.so.1";  ///< file name or path given to dlopen
  unsigned device = 0;                         ///< NVML device index
  bool allow_clock_locking = false;            ///< opt-in: apply() may lock graphics clocks
};

/// Whether NVML loads, initialises and has `options.device`; when not, `why` (if given) says why.
bool nvmlAvailable(const NvmlOptions& options = {}, std::string* why = nullptr);

/// Knob "nvml.gpuN.clock" (MHz): the device's supported graphics clocks at its highest memory clock. Not
/// writable unless allow_clock_locking. Throws HardwareError when NVML is unavailable.
std::unique_ptr<Governor> makeNvmlGovernor(const NvmlOptions& options = {});

}  // namespace dyndnn::hw
