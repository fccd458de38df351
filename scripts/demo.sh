#!/usr/bin/env bash
# The main job: set up, show the shipped model, then run the adaptive camera example on it and on the full-size
# OFA w1.0 benchmark package: a camera loop whose latency budget and competing load change while the runtime
# manager picks the sub-network and thread count for every frame (live status line, per-phase summary, trace JSON
# and a PNG plot per run in the current directory). FPS and PHASE_FRAMES override the camera's rate and length.
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
# A camera at 60 fps (5 s per phase): the shipped model's frames are sub-millisecond.
"$BUILD_DIR/examples/adaptive_camera" "$MODEL" --fps "${FPS:-60}" --phase-frames "${PHASE_FRAMES:-300}" \
  --trace adaptive_camera.json --plot adaptive_camera.png

# The camera-scale run: the full-size OFA MobileNetV3 w1.0 supernet (random weights: latency is real, predictions are
# meaningless; 2-12 ms frames), where two threads pay and the competitor takes one of the cores they run on.
BENCH="$BUILD_DIR/models/ofa_w1.0_bench.dyn"
if [ ! -f "$BENCH" ]; then
  mkdir -p "$(dirname "$BENCH")"
  /usr/bin/python3 tools/make_benchmark_package.py "$BENCH" --arch ofa_w1.0 --levels 6
fi
"$BUILD_DIR/examples/adaptive_camera" "$BENCH" --fps "${FPS:-60}" --phase-frames "${PHASE_FRAMES:-300}" \
  --trace adaptive_camera_ofa_w1.0.json --plot adaptive_camera_ofa_w1.0.png
