#!/usr/bin/env bash
# Build the C++ tests with sanitizers and run them.
#   scripts/sanitize.sh address   ASan + UBSan, every C++ test
#   scripts/sanitize.sh thread    TSan, the concurrency tests (several threads calling infer() while another
#                                 switches sub-networks and the plan cache evicts)
# LibTorch and libgomp are not instrumented; OpenMP teams are kept at one thread under TSan (its reports
# inside uninstrumented OpenMP runtimes are false positives), so what TSan checks is dyndnn's own code.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-address}
case "$KIND" in
  address) FLAGS="address,undefined"; FILTER="" ;;
  thread) FLAGS="thread"; FILTER="switch|concurren|thread|plan cache" ;;
  *) echo "usage: $0 address|thread" >&2; exit 2 ;;
esac
BUILD=build-$KIND
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYNDNN_SANITIZE="$FLAGS" \
    -DDYNDNN_BUILD_PYTHON=OFF -DDYNDNN_BUILD_EXAMPLES=OFF -DDYNDNN_BUILD_BENCHMARKS=OFF -DDYNDNN_PYTHON=/usr/bin/python3
fi
cmake --build "$BUILD" -j "$(nproc)"
export OMP_NUM_THREADS=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# LibTorch's own allocations outlive main(); leak checking is the soak test's job (RSS over 100k inferences).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
if [ -n "$FILTER" ]; then
  ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" -R "fixtures|$FILTER" -E "^python$"
else
  ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)" -E "^python$"
fi
