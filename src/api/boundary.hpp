#pragma once
// The error promise of the public API (dyndnn/error.hpp): only dyndnn errors leave a public call. Every entry
// point that reaches LibTorch, oneDNN or the allocator runs its body through boundary(), which lets dyndnn errors
// pass and turns anything else into a BackendError or OutOfMemory naming the call.

#include <utility>

#include "dyndnn/error.hpp"

namespace dyndnn {

/// Called in a catch block: rethrows the exception in flight as a dyndnn error that names `call`.
[[noreturn]] void rethrowAsLibraryError(const char* call);

template <class F>
decltype(auto) boundary(const char* call, F&& body) {
  try {
    return std::forward<F>(body)();
  } catch (const Error&) {
    throw;
  } catch (...) {
    rethrowAsLibraryError(call);
  }
}

}  // namespace dyndnn
