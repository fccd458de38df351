#!/usr/bin/env bash
# The main job: set up, then show a packaged model and run inference with two of its operating points.
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
