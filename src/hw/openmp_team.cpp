// The OpenMP worker team. libgomp keeps a pool of threads per calling thread and reuses them for every
// parallel region of the same or smaller size, which is why an affinity set inside one region (ncnn's
// trick) still holds when LibTorch's intra-op loops run later on the same pool.

#include <omp.h>

#include <exception>
#include <mutex>

#include "dyndnn/hw/affinity.hpp"

namespace dyndnn::hw {
namespace {

class OpenMpTeam final : public WorkerTeam {
 public:
  int threads() const override { return omp_get_max_threads(); }
  void setThreads(int n) override { omp_set_num_threads(n); }
  void runOnEachWorker(const std::function<void(int)>& fn) override {
    std::exception_ptr error;
    std::mutex error_mutex;
    const int n = threads();
    // Exceptions must not leave a parallel region: catch per worker, rethrow the first one after it.
#pragma omp parallel num_threads(n)
    {
      try {
        fn(omp_get_thread_num());
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace

std::shared_ptr<WorkerTeam> openMpTeam() { return std::make_shared<OpenMpTeam>(); }

}  // namespace dyndnn::hw
