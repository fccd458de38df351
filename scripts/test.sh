#!/usr/bin/env bash
# Set up, build, and run every test (C++ through CTest, Python through pytest under CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
ctest --test-dir "${DYNDNN_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
