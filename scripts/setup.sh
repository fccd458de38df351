#!/usr/bin/env bash
# Install what is missing (Debian 12 packages only), then configure and build dyndnn into build/.
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config zlib1g-dev
  libtorch-dev libdnnl-dev libxnnpack-dev libpthreadpool-dev libeigen3-dev libfmt-dev nlohmann-json3-dev catch2 pybind11-dev libstb-dev libcli11-dev
  python3-dev python3-torch python3-numpy python3-pytest python3-matplotlib python3-pil
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${DYNDNN_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYNDNN_PYTHON=/usr/bin/python3
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
