#!/usr/bin/env bash
# The main job: set up, show the shipped model, then run the adaptive camera example on it: a camera loop whose
# frame rate and competing load change while the runtime manager picks the sub-network for every frame
# (live status line, per-phase summary, trace JSON and a PNG plot in the current directory).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD_DIR=${DYNDNN_BUILD_DIR:-build}

MODEL=${1:-}
if [ -z "$MODEL" ]; then
  MODEL=$(ls models/*.dyn 2>/dev/null | head -n 1 || true)
fi
if [ -z "$MODEL" ]; then
  # No trained package shipped yet: make one with random weights (labelled as such in its metadata).
  MODEL="$BUILD_DIR/models/random_ofa_w1.0.dyn"
  if [ ! -f "$MODEL" ]; then
    mkdir -p "$(dirname "$MODEL")"
    /usr/bin/python3 tools/make_random_package.py "$MODEL" --arch ofa_w1.0 --ops 3 --seed 0
  fi
fi

"$BUILD_DIR/dyndnn" info "$MODEL"
first=$("$BUILD_DIR/dyndnn" info "$MODEL" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["operating_points"][0]["name"])')
last=$("$BUILD_DIR/dyndnn" info "$MODEL" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["operating_points"][-1]["name"])')
"$BUILD_DIR/dyndnn" infer "$MODEL" --op "$first" --threads 2
"$BUILD_DIR/dyndnn" infer "$MODEL" --op "$last" --threads 2
"$BUILD_DIR/examples/adaptive_camera" "$MODEL" --phase-frames "${PHASE_FRAMES:-2000}" \
  --trace adaptive_camera.json --plot adaptive_camera.png
