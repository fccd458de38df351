#!/usr/bin/env python3
"""Engine benchmark: dyndnn's execution plans against the static peer (the same sub-network materialised,
traced, torch.jit.freeze + optimize_for_inference, loaded with torch::jit::load in the same C++ process) and
against the Python dynamic reference; roofline, switching, jitter and memory.

Usage: /usr/bin/python3 benchmarks/run_engine.py [--build build] [--runs 50] [--out benchmarks/results]
Writes OUT/engine.json and OUT/engine_latency.png, prints a summary table.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

import torch  # noqa: E402

from dyndnn_tools import arch as A  # noqa: E402
from dyndnn_tools import package, random_package, reference, static_subnet  # noqa: E402

ROWS = [("max", dict(ks=7, e=6, d=4, r=224)), ("mid", dict(ks=5, e=4, d=3, r=192)), ("min", dict(ks=3, e=3, d=2, r=160))]
EXTRA = [("extra1", dict(ks=5, e=6, d=4, r=208)), ("extra2", dict(ks=7, e=3, d=3, r=176)),
         ("extra3", dict(ks=3, e=4, d=2, r=224))]
THREADS = [1, 2]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_package(path):
    arch, spec = random_package.ARCHS["ofa_w1.0"]()
    gen = torch.Generator().manual_seed(0)
    weights = random_package.random_weights(arch, gen)
    ops = []
    for name, config in ROWS + EXTRA:
        config = A.normalise_config(arch, config)
        stats = random_package.calibrate(weights, arch, config, gen, batch=2)
        ops.append({"name": name, "config": config, "bn_stats": {k: (m.numpy(), v.numpy()) for k, (m, v) in stats.items()},
                    "torch_stats": stats})
    package.write(path, arch, {k: v.numpy() for k, v in weights.items()}, spec,
                  [{k: v for k, v in op.items() if k != "torch_stats"} for op in ops],
                  extra_metadata={"note": "random weights, OFA MBv3 w1.0, for benchmarks"})
    return arch, weights, ops


def median_ms(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    warnings.filterwarnings("ignore", message="An output with one or more elements was resized")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args()
    work = os.path.join(args.out, "work")  # package and peer models: large, regenerated, not committed
    os.makedirs(os.path.join(work, "peers"), exist_ok=True)
    exe = os.path.join(args.build, "benchmarks", "bench_engine")
    pkg = os.path.join(work, "ofa_w1.0_bench.dyn")

    log("writing the benchmark package (random weights, per-subnet BN statistics)")
    arch, weights, ops = make_package(pkg)

    log("static peers: materialise + trace + freeze + optimize_for_inference")
    peers, freeze_ms = {}, {t: {} for t in THREADS}
    for t in THREADS:
        torch.set_num_threads(t)
        for op in ops:
            if t != THREADS[0] and op["name"] not in dict(ROWS):
                continue
            start = time.perf_counter()
            frozen, _, traced = static_subnet.frozen_torchscript(weights, arch, op["config"], op["torch_stats"])
            x = torch.randn(1, 3, op["config"]["r"], op["config"]["r"])
            with torch.no_grad():
                frozen(x)  # first output: what a switch by rebuilding waits for
            freeze_ms[t][op["name"]] = (time.perf_counter() - start) * 1e3
            path = os.path.join(work, "peers", f"{op['name']}.pt")
            traced.save(path)  # C++ freezes and optimises it after loading (see static_subnet.py)
            peers[op["name"]] = path

    log("Python dynamic reference (the tools' forward on the supernet)")
    python_ms = {t: {} for t in THREADS}
    for t in THREADS:
        torch.set_num_threads(t)
        for name, config in ROWS:
            op = next(o for o in ops if o["name"] == name)
            x = torch.randn(1, 3, config["r"], config["r"])
            with torch.no_grad():
                python_ms[t][name] = median_ms(lambda: reference.forward(weights, arch, op["config"], x,
                                                                        op["torch_stats"]), runs=7)

    log(f"C++: dyndnn vs peer side by side, {args.runs} runs per row")
    spec = {"threads": THREADS, "rows": [{"op": name, "peer": peers[name]} for name, _ in ROWS]}
    spec_path = os.path.join(work, "peers.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    latency = json.loads(subprocess.run([exe, "latency", pkg, spec_path, str(args.runs)], check=True,
                                        capture_output=True, text=True).stdout)

    log("memory: peak RSS of separate processes")

    def rss(*extra):
        return json.loads(subprocess.run([exe, "memory", pkg, *extra], check=True, capture_output=True,
                                         text=True).stdout)

    baseline = rss("baseline")
    curve = [rss("dyndnn", str(b)) for b in (0, 1, 2, 3, 6)]
    peer_list = ",".join(f"{peers[op['name']]}@{op['config']['r']}" for op in ops)
    all_peers = rss("peers", peer_list)
    one_plan = next(c for c in curve if c["budget_plans"] == 1)
    memory = {"baseline_kb": baseline["peak_rss_kb"], "dyndnn_curve": curve, "peers_6": all_peers,
              "dyndnn_one_plan_above_baseline_kb": one_plan["peak_rss_kb"] - baseline["peak_rss_kb"],
              "peers_above_baseline_kb": all_peers["peak_rss_kb"] - baseline["peak_rss_kb"]}
    memory["ratio"] = memory["dyndnn_one_plan_above_baseline_kb"] / memory["peers_above_baseline_kb"]

    for block in latency:
        t = block["threads"]
        for row in block["rows"]:
            row["python_dynamic_ms"] = python_ms[t][row["op"]]
            row["python_dynamic_over_dyndnn"] = python_ms[t][row["op"]] / row["dyndnn"]["median_ms"]
            row["roofline_fraction"] = row["gflops"] / block["roofline_gflops"]
        for s in block["switching"]:
            s["materialise_trace_freeze_ms"] = freeze_ms[t].get(s["op"])

    result = {"machine": {"host": platform.node(), "cpu": _cpu_name(), "cores": os.cpu_count(),
                          "torch": torch.__version__},
              "command": "/usr/bin/python3 benchmarks/run_engine.py " + " ".join(sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d %H:%M"), "latency": latency, "memory": memory}
    with open(os.path.join(args.out, "engine.json"), "w") as f:
        json.dump(result, f, indent=1)
    _plot(result, os.path.join(args.out, "engine_latency.png"))
    _print(result)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, block in zip(axes, result["latency"]):
        names = [r["op"] for r in block["rows"]]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [r["dyndnn"]["median_ms"] for r in block["rows"]], 0.4, label="dyndnn")
        ax.bar([x + 0.2 for x in xs], [r["peer"]["median_ms"] for r in block["rows"]], 0.4,
               label="frozen TorchScript (static)")
        for x, r in zip(xs, block["rows"]):
            ax.text(x, max(r["dyndnn"]["median_ms"], r["peer"]["median_ms"]), f"{r['ratio']:.2f}x", ha="center",
                    va="bottom")
        ax.set_xticks(list(xs), [f"{r['op']}\n{r['macs'] / 1e6:.0f} MMACs" for r in block["rows"]])
        ax.set_ylabel("median latency (ms)")
        ax.set_title(f"OFA MBv3 w1.0, batch 1, {block['threads']} thread(s)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _print(result):
    print("| threads | sub-network | MMACs | dyndnn ms | peer ms | ratio | GFLOP/s | of ceiling | Python dynamic / dyndnn |")
    print("|---|---|---|---|---|---|---|---|---|")
    for block in result["latency"]:
        for r in block["rows"]:
            print(f"| {block['threads']} | {r['op']} | {r['macs'] / 1e6:.0f} | {r['dyndnn']['median_ms']:.2f} | "
                  f"{r['peer']['median_ms']:.2f} | {r['ratio']:.2f} | {r['gflops']:.0f} | "
                  f"{r['roofline_fraction']:.0%} | {r['python_dynamic_over_dyndnn']:.1f}x |")
    for block in result["latency"]:
        print(f"threads {block['threads']}: ceiling {block['roofline_gflops']:.0f} GFLOP/s; jitter p99/median "
              f"{block['jitter']['p99_over_median']:.2f}")
        for s in block["switching"]:
            print(f"  switch to {s['op']}: cached setSubnet {s['cached_setSubnet_ms'] * 1e3:.1f} us, overhead "
                  f"{s['cached_overhead_ms'] * 1e3:.0f} us; uncached {s['uncached_request_to_output_ms']:.1f} ms "
                  f"(inference {s['inference_median_ms']:.1f} ms); async request {s['async_request_call_ms'] * 1e3:.0f} us;"
                  f" materialise+trace+freeze {s['materialise_trace_freeze_ms']:.0f} ms")
    m = result["memory"]
    print(f"memory above LibTorch-only: dyndnn (1-plan cache) {m['dyndnn_one_plan_above_baseline_kb'] / 1024:.1f} MB, "
          f"6 TorchScript models {m['peers_above_baseline_kb'] / 1024:.1f} MB, ratio {m['ratio']:.2f}")


if __name__ == "__main__":
    main()
