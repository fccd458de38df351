#!/usr/bin/python3
"""Measure each operating point's latency through the library (Python binding) and record it.

Batch 1, one raw 28x28 uint8 image per call (so preprocessing is included), median of --runs calls after a
warm-up, at --threads LibTorch threads. With --update-package the package is rewritten with
metrics.latency_ms (and metrics.latency_threads); with --json the numbers are added to the operating points of
the selection JSON. Needs the built binding: PYTHONPATH=build/python.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import package  # noqa: E402


def measure(path, threads, runs, warmup=20):
    import dyndnn
    model = dyndnn.DynamicModel(path, threads=threads)
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
    out = {}
    for op in model.operating_points:
        model.set_subnet(op["name"])
        for _ in range(warmup):  # first calls prepare the sub-network's execution plan
            model.infer(image)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model.infer(image)
            times.append(time.perf_counter() - t0)
        out[op["name"]] = 1e3 * statistics.median(times)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("package")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--json", help="selection JSON whose operating points get latency_ms")
    p.add_argument("--update-package", action="store_true")
    args = p.parse_args(argv)
    latency = measure(args.package, args.threads, args.runs)
    for name, ms in latency.items():
        print(f"{name:10s} {ms:7.3f} ms")
    if args.update_package:
        meta, weights, stats = package.read(args.package)
        ops = []
        for i, op in enumerate(meta["operating_points"]):
            metrics = {k: v for k, v in op["metrics"].items() if k not in ("macs", "params")}
            metrics.update(latency_ms=round(latency[op["name"]], 3), latency_threads=args.threads)
            ops.append({"name": op["name"], "config": op["config"], "bn_stats": stats.get(i), "metrics": metrics})
        extra = {k: v for k, v in meta.items()
                 if k not in ("format", "format_version", "family", "arch", "input", "operating_points")}
        package.write(args.package, meta["arch"], weights, meta["input"], ops, extra_metadata=extra)
    if args.json:
        with open(args.json) as f:
            doc = json.load(f)
        for op in doc["operating_points"]:
            op["latency_ms"] = round(latency[op["name"]], 3)
        doc["latency"] = {"threads": args.threads, "runs": args.runs, "batch": 1,
                          "input": "28x28 uint8 image (preprocessing included)"}
        with open(args.json, "w") as f:
            json.dump(doc, f)
    return latency


if __name__ == "__main__":
    main()
