#pragma once
// CpuLoadWatch: a thread that reads the load of other processes per CPU (hw::CpuLoadSensor::samplePerCpu) every
// period and keeps the newest reading for the frame thread, which hands it to the runtime manager after a frame.
// Reading /proc takes tens of microseconds, which a sub-millisecond frame cannot spare, so it is done here.
//
// Thread safety: take() may be called from any thread while the watcher runs.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dyndnn/hw/sensors.hpp"

namespace dyndnn {

class CpuLoadWatch {
 public:
  /// Throws HardwareError when `root`/proc/stat has no per-CPU lines or cannot be read.
  explicit CpuLoadWatch(std::chrono::milliseconds period, const std::string& root = "/");
  CpuLoadWatch(const CpuLoadWatch&) = delete;
  CpuLoadWatch& operator=(const CpuLoadWatch&) = delete;
  ~CpuLoadWatch();  // stops the thread (within one period at most)

  /// The newest reading into `out` if one came since the last take(); false otherwise. Allocates nothing once
  /// `out` has the CPU count's size.
  bool take(std::vector<double>& out);

 private:
  void loop();
  hw::CpuLoadSensor sensor_;
  std::chrono::milliseconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::vector<double> latest_;
  std::atomic<bool> fresh_{false};
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace dyndnn
