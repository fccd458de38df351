#include "api/cpu_load_watch.hpp"

#include "dyndnn/error.hpp"

namespace dyndnn {

CpuLoadWatch::CpuLoadWatch(std::chrono::milliseconds period, const std::string& root)
    : sensor_(root), period_(period) {
  sensor_.samplePerCpu();  // the reference reading; throws here, not in the thread, when /proc cannot serve
  thread_ = std::thread([this] { loop(); });
}

CpuLoadWatch::~CpuLoadWatch() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CpuLoadWatch::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stop_; })) {
    lock.unlock();
    std::vector<double> reading;
    try {
      reading = sensor_.samplePerCpu();
    } catch (const Error&) {
      return;  // /proc went away (a container changing under us): the manager manages without the signal
    }
    lock.lock();
    latest_ = std::move(reading);
    fresh_.store(true, std::memory_order_release);
  }
}

bool CpuLoadWatch::take(std::vector<double>& out) {
  if (!fresh_.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  out.assign(latest_.begin(), latest_.end());
  fresh_.store(false, std::memory_order_relaxed);
  return true;
}

}  // namespace dyndnn
