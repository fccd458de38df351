#!/usr/bin/env bash
# Cross-build dyndnn for aarch64 and run its C++ tests under qemu-aarch64 (user mode): as a NEON-only core
# (QEMU_CPU=cortex-a72: Raspberry Pi 4, Jetson Nano's A57, Xavier's Carmel are of this kind) and as qemu's default
# CPU ("max": SVE; the per-op tests there). Emulation runs 20-50x below native speed, so the run is the op-level tests, the end-to-end
# equivalence tests on the fixture packages, and the LibTorch-free hardware and runtime tests; then the kernel report.
# Usage: scripts/arm64_test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
./scripts/arm64_sysroot.sh build-arm64
BUILD=build-arm64/build
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
    -DDYNDNN_BUILD_PYTHON=OFF -DDYNDNN_BUILD_EXAMPLES=OFF -DDYNDNN_BUILD_BENCHMARKS=OFF -DDYNDNN_INSTALL=OFF \
    -DDYNDNN_PYTHON=/usr/bin/python3
fi
cmake --build "$BUILD" -j "$(nproc)" --target dyndnn_tests dyndnn_plan_tests dyndnn_engine_tests dyndnn_hw_tests dyndnn_runtime_tests \
  dyndnn_cli
echo "arm64_test: built in $((SECONDS - START)) s"
# The fixture packages are made on this machine (Python with PyTorch); the test binaries run under the emulator.
# End to end: the small packages against the Python reference through DynamicModel (its `auto` backend), and every
# backend's plans against the reference executor (DYNDNN_TEST_EMULATED leaves the full-size OFA package out).
E2E='^1-channel 28x28 family|^group_cnn, (triangular|grouped): every level|^elastic_vit: every backend'
E2E="$E2E|^oneDNN, XNNPACK and ATen plans match|^an XNNPACK plan runs on several threads"
TESTS="^(fixtures\.|engine\.|hw\.|runtime\.[^.]*$)|$E2E"
# qemu's max CPU (SVE, where oneDNN has JIT kernels) runs the per-op tests only: what differs there is oneDNN's
# kernel choice, and the whole set took 345 s of the CI budget under it.
for cpu in cortex-a72 max; do
  t=$SECONDS
  echo "=== aarch64 tests, QEMU_CPU=$cpu ==="
  tests=$TESTS
  [ "$cpu" = max ] && tests='^(fixtures\.|engine\.)'
  (cd "$BUILD" && DYNDNN_TEST_EMULATED=1 QEMU_CPU=$cpu ctest --output-on-failure -j "$(nproc)" -R "$tests" "$@")
  echo "=== aarch64 tests, QEMU_CPU=$cpu: $((SECONDS - t)) s ==="
done
# The kernel report: on a NEON-only core no node of the shipped model or of the full-size OFA benchmark package may
# run on a library's reference code (Debian's oneDNN has only reference convolutions there; `auto` must avoid them).
BENCH_PKG="$BUILD/ofa_w1.0_bench.dyn"
[ -f "$BENCH_PKG" ] || /usr/bin/python3 tools/make_benchmark_package.py "$BENCH_PKG" --arch ofa_w1.0 --levels 6 >/dev/null
for pkg in models/fmnist_ofa_mbv3.dyn "$BENCH_PKG"; do
  QEMU_CPU=cortex-a72 qemu-aarch64 -L build-arm64/sysroot "$BUILD/dyndnn" info "$pkg" --kernels --json >"$BUILD/kernels.json"
  /usr/bin/python3 - "$pkg" "$BUILD/kernels.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
print(f"arm64_test: kernel report of {sys.argv[1]} on cortex-a72: backend {r['backend']}, "
      f"{sum(r['kernels'].values())} nodes, {len(r['reference'])} on reference kernels")
for k in r["reference"][:10]:
    print("  ", k)
sys.exit(1 if r["reference"] else 0)
PY
done
echo "arm64_test: $((SECONDS - START)) s in all"
