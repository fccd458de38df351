#include "api/boundary.hpp"

#include <c10/util/Exception.h>

#include <new>
#include <string>

#include <fmt/format.h>

#if DYNDNN_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace dyndnn {

void rethrowAsLibraryError(const char* call) {
  const auto outOfMemory = [call](const std::string& what) {
    return OutOfMemory(fmt::format("{}: out of memory ({}); use a smaller operating point, lower "
                                   "ModelOptions.plan_cache_bytes, or free memory",
                                   call, what));
  };
  try {
    throw;
  } catch (const std::bad_alloc& e) {
    throw outOfMemory(e.what());
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    // LibTorch's CPU allocator reports a failed allocation as a plain c10::Error ("DefaultCPUAllocator: can't
    // allocate memory" in 1.13, "not enough memory" in 2.x); 2.x has c10::OutOfMemoryError for the GPU's.
    for (const char* oom : {"can't allocate memory", "not enough memory", "out of memory"})
      if (what.find(oom) != std::string::npos) throw outOfMemory(what);
    throw BackendError(fmt::format("{}: LibTorch failed: {} (please report this with the input's shape and the "
                                   "package)",
                                   call, what));
#if DYNDNN_HAVE_ONEDNN
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_out_of_memory) throw outOfMemory(e.what());
    throw BackendError(fmt::format("{}: oneDNN failed: {} (status {}; please report this with the package and "
                                   "the CPU, `lscpu`)",
                                   call, e.what(), static_cast<int>(e.status)));
#endif
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}", call, e.what()));
  } catch (...) {
    throw Error(fmt::format("{}: an exception that is not a std::exception", call));
  }
}

}  // namespace dyndnn
