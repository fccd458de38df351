#!/usr/bin/env bash
# Build the C++ tests with sanitizers and run them.
#   scripts/sanitize.sh address   ASan + UBSan, every C++ test
#   scripts/sanitize.sh thread    TSan, the concurrency tests (several threads calling infer() while another
#                                 changes targets and sub-networks and the plan cache evicts)
# LibTorch, oneDNN and libgomp are not instrumented; OpenMP teams are kept at one thread under TSan (its reports
# inside uninstrumented OpenMP runtimes are false positives), so what TSan checks is dyndnn's own code.
# Only the C++ test executables are built (no CLI, Python module, examples or benchmarks), at -O1 with line
# tables only (-g1): enough for symbolised reports at about half the compile time of -O2 -g. CI runs both
# (.ci/run): from scratch on 2 cores without ccache, about 10 minutes for address and 7 for thread (build and
# tests; the numbers are in .ci/run).
# Environment: DYNDNN_SANITIZE_BUILD_DIR (default build-address / build-thread), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-address}
# Test names (ctest -R) that exercise threads: plan cache worker, asynchronous switches, concurrent infer with
# switches / target changes / evictions, prefetching, concurrent governors.
TSAN_TESTS='^concurrency\.|^plan cache:|^requestSubnet switches|^infer from several threads|^operating points are prefetched|^hw\.concurrent|^an XNNPACK plan runs on several threads'
case "$KIND" in
  address)
    FLAGS="address,undefined"
    TARGETS=(dyndnn_tests dyndnn_plan_tests dyndnn_engine_tests dyndnn_managed_tests dyndnn_concurrency_tests dyndnn_hw_tests dyndnn_runtime_tests
             dyndnn_fake_nvml dyndnn_daemon_tests dyndnn_remote_tests dyndnnd)
    FILTER="" ;;
  thread)
    FLAGS="thread"
    TARGETS=(dyndnn_plan_tests dyndnn_concurrency_tests dyndnn_hw_tests dyndnn_fake_nvml)
    FILTER="^fixtures\.|$TSAN_TESTS" ;;
  *) echo "usage: $0 address|thread" >&2; exit 2 ;;
esac
BUILD=${DYNDNN_SANITIZE_BUILD_DIR:-build-$KIND}
JOBS=${JOBS:-$(nproc)}
# Configured every time (a few seconds), so that flags changed here reach an existing build directory.
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DDYNDNN_SANITIZE="$FLAGS" -DDYNDNN_BUILD_TESTS=ON -DDYNDNN_BUILD_CLI=OFF -DDYNDNN_BUILD_PYTHON=OFF \
  -DDYNDNN_BUILD_EXAMPLES=OFF -DDYNDNN_BUILD_BENCHMARKS=OFF -DDYNDNN_INSTALL=OFF -DDYNDNN_PYTHON=/usr/bin/python3 \
  --no-warn-unused-cli >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"
export OMP_NUM_THREADS=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# LibTorch's own allocations outlive main(); leak checking is the soak test's job (RSS over 100k inferences).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 suppressions=$PWD/tests/tsan.supp"
if [ "$KIND" = thread ]; then
  # oneDNN's process-wide primitive cache hands objects built on one thread (the plan cache's worker) to another
  # (a blocking setSubnet), synchronised inside uninstrumented libdnnl, which TSan cannot see: it reported a race
  # on a primitive descriptor both plans' builders read. Without the cache every plan owns its primitives, so what
  # TSan checks is dyndnn's sharing only, with no suppression needed (see tests/tsan.supp).
  export ONEDNN_PRIMITIVE_CACHE_CAPACITY=0 DNNL_PRIMITIVE_CACHE_CAPACITY=0
fi
# Executables not built above leave *_NOT_BUILT placeholders in CTest; they are not run.
EXCLUDE='^python$|_NOT_BUILT'
if [ -n "$FILTER" ]; then
  ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" -R "$FILTER" -E "$EXCLUDE"
else
  ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" -E "$EXCLUDE"
fi
