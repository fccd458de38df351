#!/usr/bin/env bash
# Cross-build dyndnn for aarch64 and run its C++ tests under qemu-aarch64 (user mode), twice: as a NEON-only core
# (QEMU_CPU=cortex-a72: Raspberry Pi 4, Jetson Nano's A57, Xavier's Carmel are of this kind) and as qemu's default
# CPU ("max": SVE). Emulation runs 20-50x below native speed, so the run is the op-level tests, the end-to-end
# equivalence tests on the fixture packages, and the LibTorch-free hardware and runtime tests.
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
cmake --build "$BUILD" -j "$(nproc)" --target dyndnn_tests dyndnn_engine_tests dyndnn_hw_tests dyndnn_runtime_tests \
  dyndnn_cli
echo "arm64_test: built in $((SECONDS - START)) s"
# The fixture packages are made on this machine (Python with PyTorch); the test binaries run under the emulator.
TESTS='^(fixtures\.|engine\.|hw\.|runtime\.[^.]*$)'
for cpu in cortex-a72 max; do
  t=$SECONDS
  echo "=== aarch64 tests, QEMU_CPU=$cpu ==="
  (cd "$BUILD" && QEMU_CPU=$cpu ctest --output-on-failure -j "$(nproc)" -R "$TESTS" "$@")
  echo "=== aarch64 tests, QEMU_CPU=$cpu: $((SECONDS - t)) s ==="
done
echo "arm64_test: $((SECONDS - START)) s in all"
