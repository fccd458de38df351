#!/usr/bin/env python3
"""dyndnn quickstart in Python: load, list operating points, switch, infer.

Usage: PYTHONPATH=build/python /usr/bin/python3 examples/python/quickstart.py MODEL.dyn
"""
import sys

import numpy as np

import dyndnn


def main(path):
    model = dyndnn.DynamicModel(path, threads=2)
    for op in model.operating_points:
        print(f"{op['name']}: {op['macs'] / 1e6:.1f} MMACs, accuracy {op['accuracy']}")
    # an 8-bit camera frame of any size: resized, centre-cropped and normalised with the package's mean/std
    frame = np.random.default_rng(0).integers(0, 256, (120, 160, model.input_channels), np.uint8)
    for op in model.operating_points:
        model.set_subnet(op["name"])
        logits = model.infer(frame)
        print(f"{op['name']} -> class {int(logits.argmax())}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
