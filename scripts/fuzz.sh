#!/usr/bin/env bash
# Build the fuzzers with clang (libFuzzer + ASan + UBSan) and run them: the package reader for SECONDS, dyndnnd's
# wire protocol for half as long.
# Usage: scripts/fuzz.sh [SECONDS]   (default 60; CI runs the default)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
missing=()
for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
BUILD=${DYNDNN_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYNDNN_FUZZ=ON \
    -DDYNDNN_BUILD_TESTS=OFF -DDYNDNN_BUILD_PYTHON=OFF -DDYNDNN_BUILD_EXAMPLES=OFF -DDYNDNN_BUILD_CLI=OFF \
    -DDYNDNN_BUILD_BENCHMARKS=OFF -DDYNDNN_PYTHON=/usr/bin/python3
fi
cmake --build "$BUILD" --target fuzz_package fuzz_protocol -j "$(nproc)"
WORK=$(mktemp -d)
cp tests/fuzz/corpus/* "$WORK/"
# -rss_limit_mb: a corrupt length must never turn into a huge allocation
"$BUILD/tests/fuzz/fuzz_package" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -max_len=200000 \
  -print_final_stats=1 "$WORK" 2>&1 | tail -n 25
rm -rf "$WORK"
WORK=$(mktemp -d)
cp tests/fuzz/protocol_corpus/* "$WORK/"
"$BUILD/tests/fuzz/fuzz_protocol" -max_total_time="$(( (SECONDS_TO_RUN + 1) / 2 ))" -rss_limit_mb=1024 -max_len=70000 \
  -print_final_stats=1 "$WORK" 2>&1 | tail -n 12
rm -rf "$WORK"
