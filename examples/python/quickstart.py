#!/usr/bin/env python3
"""dyndnn quickstart in Python: load, state a goal, infer; the runtime manager picks the sub-network.

Usage: PYTHONPATH=build/python /usr/bin/python3 examples/python/quickstart.py MODEL.dyn
"""
import sys

import numpy as np

import dyndnn


def main(path):
    model = dyndnn.DynamicModel(path)
    for op in model.operating_points:
        print(f"{op['name']}: {op['macs'] / 1e6:.1f} MMACs, accuracy {op['accuracy']}")
    # an 8-bit camera frame of any size: resized, centre-cropped and normalised with the package's mean/std
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, model.input_channels), np.uint8)
    model.set_target(latency_ms=5.0)  # measures this device once; every infer() then decides first
    for _ in range(20):
        logits = model.infer(frame)
    stats = model.runtime_stats()
    print(f"managed: {stats['current_op']} -> class {int(logits.argmax())} ({stats['last_reason']})")
    last = model.operating_points[-1]["name"]
    model.set_subnet(last)  # manual control: the manager steps aside until the next set_target()
    print(f"{last} -> class {int(model.infer(frame).argmax())}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
