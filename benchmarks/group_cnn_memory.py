#!/usr/bin/python3
"""Memory of one channel-group CNN package serving every level against separate static models of the levels
(issue 15; the MLCAD 2019 paper reports a 2.4x smaller footprint for its dynamic DNN at the same compression rate).

The static models are the levels exported by `dyndnn export` (a static package holds only the tensors its
sub-network reads). Measured: file bytes; the plans' own accounting (bytes of every plan alive while serving every
level); and the resident memory a process adds to serve every level (VmRSS after serving minus VmRSS after
importing dyndnn and running one inference of a 1x1 network the same way in both modes, so that the runtime's
one-off costs, such as oneDNN's JIT kernels and the OpenMP team, are not counted as model memory). Each run starts
a fresh process per mode, in alternating order; medians and ranges over --runs.

  /usr/bin/python3 benchmarks/group_cnn_memory.py --cli build/dyndnn --model models/fmnist_group_cnn.dyn \
      --runs 5 --out benchmarks/results/group_cnn_memory.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

WORKER = r"""
import json, sys
import numpy as np
import dyndnn

def rss_kb():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f if l.startswith(("VmRSS", "VmHWM"))}

mode, warm, paths, frames = sys.argv[1], sys.argv[2], sys.argv[3:-1], int(sys.argv[-1])
image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
w = dyndnn.DynamicModel(warm, threads=1)   # the runtime's one-off costs, paid before the first reading
w.infer(image)
before = rss_kb()["VmRSS"]
models, plan_bytes = [], 0
if mode == "dynamic":
    m = dyndnn.DynamicModel(paths[0], threads=1)
    for op in m.operating_points:
        m.set_subnet(op["name"])
        for _ in range(frames):
            m.infer(image)
    models.append(m)
    plan_bytes = m.plan_cache_stats["bytes"]
else:
    for p in paths:
        m = dyndnn.DynamicModel(p, threads=1)
        for _ in range(frames):
            m.infer(image)
        models.append(m)
        plan_bytes += m.plan_cache_stats["bytes"]
after = rss_kb()
print(json.dumps({"rss_added_kb": after["VmRSS"] - before, "rss_kb": after["VmRSS"], "hwm_kb": after["VmHWM"],
                  "plan_bytes": plan_bytes}))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cli", default="build/dyndnn")
    p.add_argument("--model", default="models/fmnist_group_cnn.dyn")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--frames", type=int, default=20, help="inferences per level")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(os.path.dirname(args.cli), "python"),
                                                      env.get("PYTHONPATH", "")]))
    info = json.loads(subprocess.run([args.cli, "info", args.model, "--json"], check=True, capture_output=True,
                                     text=True).stdout)
    names = [op["name"] for op in info["operating_points"]]
    with tempfile.TemporaryDirectory() as tmp:
        statics = []
        for name in names:
            out = os.path.join(tmp, f"{name}.dyn")
            subprocess.run([args.cli, "export", args.model, "--op", name, out], check=True, capture_output=True)
            statics.append(out)
        # the warm-up network: the smallest level of the same model, exported to its own file
        warm = os.path.join(tmp, "warm.dyn")
        subprocess.run([args.cli, "export", args.model, "--op", names[0], warm], check=True, capture_output=True)
        runs = []
        for r in range(args.runs):
            order = ("dynamic", "static") if r % 2 == 0 else ("static", "dynamic")
            row = {}
            for mode in order:
                paths = [args.model] if mode == "dynamic" else statics
                res = subprocess.run([sys.executable, "-c", WORKER, mode, warm, *paths, str(args.frames)], env=env,
                                     check=True, capture_output=True, text=True)
                row[mode] = json.loads(res.stdout.strip().splitlines()[-1])
            runs.append(row)
            print(f"run {r + 1}/{args.runs}: RSS added serving every level: one package "
                  f"{row['dynamic']['rss_added_kb'] / 1024:.1f} MB, {len(statics)} static models "
                  f"{row['static']['rss_added_kb'] / 1024:.1f} MB", flush=True)
        file_bytes = {"package": os.path.getsize(args.model), "static": {n: os.path.getsize(s)
                                                                         for n, s in zip(names, statics)}}

    def med(mode, key):
        values = [run[mode][key] for run in runs]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    static_total = sum(file_bytes["static"].values())
    result = {
        "model": args.model, "levels": names, "runs": runs, "frames_per_level": args.frames,
        "file_bytes": dict(file_bytes, static_total=static_total,
                           ratio_static_over_package=static_total / file_bytes["package"]),
        "plan_bytes": {"package": med("dynamic", "plan_bytes"), "static": med("static", "plan_bytes")},
        "rss_added_kb": {"package": med("dynamic", "rss_added_kb"), "static": med("static", "rss_added_kb")},
        "paper_mlcad_ratio": 2.4,
    }
    rss = result["rss_added_kb"]
    result["rss_ratio_static_over_package"] = rss["static"]["median"] / rss["package"]["median"]
    result["plan_ratio_static_over_package"] = (result["plan_bytes"]["static"]["median"]
                                                / result["plan_bytes"]["package"]["median"])
    print(f"files: one package {file_bytes['package'] / 1e6:.2f} MB, static models {static_total / 1e6:.2f} MB "
          f"({result['file_bytes']['ratio_static_over_package']:.2f}x); plans: "
          f"{result['plan_ratio_static_over_package']:.2f}x; RSS added (median of {args.runs}): package "
          f"{rss['package']['median'] / 1024:.1f} MB, static {rss['static']['median'] / 1024:.1f} MB "
          f"({result['rss_ratio_static_over_package']:.2f}x); paper 2.4x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
