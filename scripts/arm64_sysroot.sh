#!/usr/bin/env bash
# Make an aarch64 sysroot from Debian's own arm64 packages, for cross-building dyndnn and running its tests under
# qemu-aarch64. Nothing :arm64 is installed into this system (apt would remove LibTorch: the arm64 and amd64 builds
# of some of our dependencies are not co-installable): a private apt configuration resolves the packages' closure for
# arm64 as if nothing were installed, downloads it and unpacks each package with `dpkg -x`. No binfmt handler is
# registered; run binaries with `qemu-aarch64 -L SYSROOT BINARY` (scripts/arm64_test.sh does).
# Idempotent: a second run with the same package list only checks the stamp.
# Usage: scripts/arm64_sysroot.sh [DIR]   (default build-arm64; the sysroot is DIR/sysroot)
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
DIR=$(realpath -m "${1:-build-arm64}")
SYSROOT="$DIR/sysroot"
APT="$DIR/apt"

# What dyndnn links or includes, as arm64 packages; the closure of their dependencies comes with them.
PACKAGES=(
  libc6-dev libstdc++-12-dev zlib1g-dev
  libtorch-dev libdnnl-dev libxnnpack-dev libpthreadpool-dev libfmt-dev libeigen3-dev nlohmann-json3-dev catch2 libstb-dev libcli11-dev
)
# The cross compiler and the emulator run on this machine. qemu-user recommends qemu-user-binfmt, which would
# register binfmt handlers: never install recommends here.
HOST_TOOLS=(g++-aarch64-linux-gnu qemu-user)

missing=()
for p in "${HOST_TOOLS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "arm64_sysroot: installing host tools ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

STAMP="$SYSROOT/.dyndnn-sysroot"
WANT="packages: ${PACKAGES[*]}"
if [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "$WANT" ]; then
  echo "arm64_sysroot: $SYSROOT is up to date ($(($(wc -l <"$STAMP") - 1)) packages; $((SECONDS - START)) s)"
  exit 0
fi

# A private apt: its own state (an empty dpkg status, so the whole closure is resolved), cache and lists; the
# system's sources and keys, read only.
mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial" "$APT/etc/apt.conf.d" "$APT/etc/preferences.d" \
  "$APT/etc/sources.list.d"
: >"$APT/state/status"
: >"$APT/etc/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  case "$f" in */sources.list) cp "$f" "$APT/etc/sources.list" ;; *) cp "$f" "$APT/etc/sources.list.d/" ;; esac
done
APT_OPTS=(
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::State="$APT/state" -o Dir::State::status="$APT/state/status" -o Dir::Cache="$APT/cache"
  -o Dir::Etc="$APT/etc" -o Dir::Etc::Trusted=/etc/apt/trusted.gpg -o Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d
  -o Debug::NoLocking=1 -o APT::Install-Recommends=false
)
echo "arm64_sysroot: resolving and downloading the arm64 closure of ${#PACKAGES[@]} packages"
apt-get "${APT_OPTS[@]}" update -qq
apt-get "${APT_OPTS[@]}" install --download-only -y -qq "${PACKAGES[@]}" >/dev/null

rm -rf "$SYSROOT.new"
mkdir -p "$SYSROOT.new"
debs=("$APT"/cache/archives/*.deb)
n=0
for deb in "${debs[@]}"; do
  dpkg -x "$deb" "$SYSROOT.new"
  n=$((n + 1))
  if [ -t 1 ]; then printf "\rarm64_sysroot: unpacking %d/%d" "$n" "${#debs[@]}"; elif [ $((n % 100)) -eq 0 ]; then echo "arm64_sysroot: unpacked $n/${#debs[@]}"; fi
done
echo

# Debian 12 merges /lib into /usr/lib on install (usrmerge); dpkg -x does not, so merge here: the linker scripts
# and the loader's path name /lib, the packages put libraries in both.
for d in lib bin sbin; do
  if [ -d "$SYSROOT.new/$d" ] && [ ! -L "$SYSROOT.new/$d" ]; then
    mkdir -p "$SYSROOT.new/usr/$d"
    cp -a "$SYSROOT.new/$d/." "$SYSROOT.new/usr/$d/"
    rm -rf "${SYSROOT:?}.new/$d"
  fi
  ln -sfn "usr/$d" "$SYSROOT.new/$d"
done
# Absolute symlinks (libz.so -> /lib/aarch64-linux-gnu/libz.so.1) would point into this machine: make them relative.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  case "$target" in
    /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$SYSROOT.new$target")" "$link" ;;
  esac
done < <(find "$SYSROOT.new" -type l -print0)

# BLAS and LAPACK are chosen by update-alternatives in their postinst, which dpkg -x does not run: link the
# reference implementations where the loader and the linker look (LibTorch's dependencies need libblas.so.3).
for impl in "$SYSROOT.new"/usr/lib/aarch64-linux-gnu/{blas,lapack}/*.so*; do
  [ -e "$impl" ] || continue
  link="$SYSROOT.new/usr/lib/aarch64-linux-gnu/$(basename "$impl")"
  [ -e "$link" ] || ln -s "$(basename "$(dirname "$impl")")/$(basename "$impl")" "$link"
done

{ echo "$WANT"; for deb in "${debs[@]}"; do basename "$deb"; done; } >"$SYSROOT.new/.dyndnn-sysroot"
rm -rf "$SYSROOT"
mv "$SYSROOT.new" "$SYSROOT"
echo "arm64_sysroot: $SYSROOT ready: ${#debs[@]} packages, $(du -sh "$SYSROOT" | cut -f1), $((SECONDS - START)) s"
