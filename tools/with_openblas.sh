#!/bin/sh
# Run a command with OpenBLAS in place of Debian's default reference BLAS, for the Python training tools only:
# PyTorch's linear layers and batched matmuls go through BLAS, which runs at ~2.5 GFLOP/s here against ~30 with
# OpenBLAS (measured: a [6400,128]x[128,384] linear, one thread). The package is unpacked into a cache folder,
# not installed, so the system's libblas (and what LibTorch and the library use) stays as it is.
#   tools/with_openblas.sh /usr/bin/python3 tools/train_vit_supernet.py
set -eu
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
dir=${DYNDNN_OPENBLAS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dyndnn/openblas-$arch}
lib=$dir/usr/lib/$multiarch/openblas-pthread
if [ ! -e "$lib/libblas.so.3" ]; then
  echo "with_openblas: unpacking libopenblas0-pthread into $dir" >&2
  work=$(mktemp -d)
  (cd "$work" && apt-get download libopenblas0-pthread >/dev/null 2>&1) ||
    { echo "with_openblas: 'apt-get download libopenblas0-pthread' failed (no Debian archive?)" >&2; exit 1; }
  mkdir -p "$dir"
  dpkg -x "$work"/libopenblas0-pthread_*.deb "$dir"
  rm -rf "$work"
fi
# One BLAS thread: the caller sets its own thread count (torch.set_num_threads), and OpenBLAS's pthreads would
# otherwise compete with PyTorch's OpenMP team for the same cores.
LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} exec "$@"
