// The public API's error promise (dyndnn/error.hpp): what LibTorch, oneDNN or the allocator throw inside a public
// call leaves it as a dyndnn error naming the call. The exceptions here are the libraries' own, raised for real.
#include <ATen/ATen.h>
// After ATen: c10's logging header defines its own CHECK, which must not replace Catch's.
#include <catch2/catch.hpp>

#if DYNDNN_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "api/boundary.hpp"
#include "dyndnn/error.hpp"

using namespace dyndnn;

TEST_CASE("boundary: a LibTorch error becomes a BackendError that names the call") {
  try {
    boundary("infer", [] { return at::mm(at::zeros({2, 3}), at::zeros({2, 3})); });
    FAIL("no exception");
  } catch (const BackendError& e) {
    const std::string what = e.what();
    CHECK(what.rfind("infer: LibTorch failed: ", 0) == 0);
    CHECK(what.find("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)") != std::string::npos);
    CHECK(what.find("Exception raised from") == std::string::npos);  // LibTorch's C++ backtrace is not the user's
  }
}

TEST_CASE("boundary: the allocator running out becomes OutOfMemory") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  SUCCEED("skipped: a sanitizer's allocator aborts on a request this size instead of failing it");
#else
  // 2^44 bytes (16 TiB): more than this machine's memory and swap, so the kernel refuses it at once.
  CHECK_THROWS_MATCHES(boundary("setSubnet", [] { return at::empty({std::int64_t{1} << 44}, at::kByte); }),
                       OutOfMemory, Catch::Matchers::Predicate<OutOfMemory>([](const OutOfMemory& e) {
                         const std::string w = e.what();
                         return w.rfind("setSubnet: out of memory (", 0) == 0 && w.find("ModelOptions.plan_cache_bytes") != std::string::npos;
                       }));
  CHECK_THROWS_AS(boundary("load", [] { return std::vector<double>(std::size_t{1} << 44); }), OutOfMemory);
#endif
}

#if DYNDNN_HAVE_ONEDNN
TEST_CASE("boundary: a oneDNN error becomes a BackendError with oneDNN's status") {
  // A GPU engine from a CPU-only oneDNN: refused by oneDNN itself.
  try {
    boundary("describeGraph", [] { return dnnl::engine(dnnl::engine::kind::gpu, 0); });
    FAIL("no exception");
  } catch (const BackendError& e) {
    const std::string what = e.what();
    CHECK(what.rfind("describeGraph: oneDNN failed: ", 0) == 0);
    CHECK(what.find("(status ") != std::string::npos);
  }
}
#endif

TEST_CASE("boundary: dyndnn errors pass unchanged, anything else becomes a dyndnn Error") {
  CHECK_THROWS_MATCHES(boundary("infer", []() -> int { throw InvalidArgument("infer: bad input"); }), InvalidArgument,
                       Catch::Matchers::Message("infer: bad input"));
  CHECK_THROWS_MATCHES(boundary("setRuntime", [] { return std::stoi("not a number"); }), Error,
                       Catch::Matchers::Predicate<Error>([](const Error& e) {
                         return std::string(e.what()).rfind("setRuntime: stoi", 0) == 0;
                       }));
  CHECK_THROWS_AS(boundary("infer", []() -> int { throw 42; }), Error);
  CHECK(boundary("infer", [] { return 7; }) == 7);  // and a result passes through
}
