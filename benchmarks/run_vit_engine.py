#!/usr/bin/env python3
"""Elastic ViT engine benchmark: every operating point of a package on dyndnn against the same sub-network as a
static peer (its own weights only, traced, torch.jit.freeze + optimize_for_inference, loaded in the same C++
process), interleaved run by run, at 1 and 2 threads; and switching costs (bench_engine's latency mode).

The peer's linear layers and attention matmuls go through LibTorch's BLAS, Debian's reference one by default
(~2.5 GFLOP/s here). So the peer is timed twice: with the default BLAS (what a user of this LibTorch gets) and
with OpenBLAS (tools/with_openblas.sh; the strongest peer this machine has). dyndnn uses no BLAS either way.

Usage: /usr/bin/python3 benchmarks/run_vit_engine.py [--package models/fmnist_elastic_vit.dyn] [--runs 200]
Writes OUT/vit_engine.json and prints a table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))

import torch  # noqa: E402

from dyndnn_tools import elastic_vit as V  # noqa: E402
from dyndnn_tools import package  # noqa: E402


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", default=os.path.join(ROOT, "models", "fmnist_elastic_vit.dyn"))
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args()
    work = os.path.join(args.out, "work", "vit_peers")
    os.makedirs(work, exist_ok=True)
    meta, weights, _ = package.read(args.package)
    arch = meta["arch"]
    rows, freeze_ms = [], {}
    log(f"static peers of {len(meta['operating_points'])} operating points: slice, trace, freeze, save")
    torch.set_num_threads(1)
    for op in meta["operating_points"]:
        start = time.perf_counter()  # what a static deployment waits for on a switch: to the first output
        frozen, traced = V.frozen_torchscript(weights, arch, op["config"])
        with torch.no_grad():
            frozen(torch.randn(1, arch["in_channels"], arch["resolution"], arch["resolution"]))
        freeze_ms[op["name"]] = round((time.perf_counter() - start) * 1e3, 1)
        path = os.path.join(work, f"{op['name']}.pt")
        traced.save(path)
        rows.append({"op": op["name"], "peer": path})
    spec = os.path.join(work, "peers.json")
    with open(spec, "w") as f:
        json.dump({"threads": args.threads, "rows": rows}, f)
    exe = os.path.join(args.build, "benchmarks", "bench_engine")
    results = {}
    for blas, prefix in (("reference", []), ("openblas", [os.path.join(ROOT, "tools", "with_openblas.sh")])):
        log(f"C++: dyndnn vs peer ({blas} BLAS for the peer), {args.runs} interleaved runs per point")
        out = subprocess.run(prefix + [exe, "latency", args.package, spec, str(args.runs)], check=True,
                             capture_output=True, text=True).stdout
        results[blas] = json.loads(out)
    doc = {"package": os.path.relpath(args.package, ROOT), "runs": args.runs, "machine": platform.node(),
           "cpus": os.cpu_count(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M"),
           "peer_freeze_to_first_output_ms": freeze_ms, "peer_blas": results}
    path = os.path.join(args.out, "vit_engine.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{'threads':>7} {'op':>6} {'MMACs':>6} {'dyndnn ms':>9} {'peer ms (ref BLAS)':>18} {'ratio':>6} "
          f"{'peer ms (OpenBLAS)':>18} {'ratio':>6}")
    for ref_t, ob_t in zip(results["reference"], results["openblas"]):
        for a, b in zip(ref_t["rows"], ob_t["rows"]):
            print(f"{ref_t['threads']:>7} {a['op']:>6} {a['macs'] / 1e6:6.1f} {b['dyndnn']['median_ms']:9.3f} "
                  f"{a['peer']['median_ms']:18.3f} {a['ratio']:6.2f} {b['peer']['median_ms']:18.3f} {b['ratio']:6.2f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
