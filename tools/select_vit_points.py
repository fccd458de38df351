#!/usr/bin/python3
"""Pick operating points of the trained elastic ViT by measured accuracy and latency, and ship the package.

1. sample sub-networks (the largest, the smallest, the rest at random; blocks past the depth do not count);
2. screen each one's top-1 on a fixed random subset of the test images (the Python forward pass);
3. measure each one's latency with dyndnn itself (a package of all samples, the Python binding, batch 1, one raw
   28x28 image per call, --threads threads, median of --runs calls);
4. evaluate on all 10k test images the samples on or near the screened (latency, accuracy) front;
5. keep the Pareto front of full-test accuracy against measured latency and choose --n-ops points spread evenly
   in log latency, both ends included;
6. write the package (weights, the points with accuracy and latency), the JSON of every sample and a plot.
Run under tools/with_openblas.sh: the screening is PyTorch's linear layers, 10x faster with OpenBLAS.
"""
import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import elastic_vit as V  # noqa: E402
from dyndnn_tools import fmnist, package  # noqa: E402
from measure_latency import measure  # noqa: E402
from select_operating_points import choose, near_front, pareto  # noqa: E402

INPUT = {"channels": 1, "mean": [fmnist.MEAN], "std": [fmnist.STD], "resolutions": [28], "crop_ratio": 1.0}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", default="models/stages/elastic_vit/stage.pt", help="trained weights (stage.pt)")
    p.add_argument("--data", default=fmnist.DEFAULT_DIR)
    p.add_argument("--out", default="models/fmnist_elastic_vit.dyn")
    p.add_argument("--json", default="docs/fmnist_vit_subnets.json")
    p.add_argument("--plot", default="docs/fmnist_vit_front.png")
    p.add_argument("--n-samples", type=int, default=200)
    p.add_argument("--screen-images", type=int, default=2000)
    p.add_argument("--tolerance", type=float, default=0.6, help="points below the screened front still kept")
    p.add_argument("--max-candidates", type=int, default=40)
    p.add_argument("--n-ops", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="threads of the latency measurement")
    p.add_argument("--runs", type=int, default=100, help="timed calls per sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-partial", action="store_true", help="accept weights whose training is unfinished")
    return p.parse_args(argv)


def active_key(config):
    """What a config computes: the per-block lists cut at its depth."""
    d = config["d"][0]
    return json.dumps({"d": d, "w": config["w"][0], "h": config["h"][:d], "m": config["m"][:d]})


def sample_configs(arch, n, seed):
    rng = random.Random(seed)
    configs = {}
    for c in (V.largest_config(arch), V.smallest_config(arch)):
        configs[active_key(c)] = c
    attempts = 0
    while len(configs) < n and attempts < 100 * n:
        c = V.random_config(arch, rng)
        configs.setdefault(active_key(c), c)
        attempts += 1
    return list(configs.values())


@torch.no_grad()
def accuracy(weights, arch, config, x, y, batch=500):
    correct = 0
    for i in range(0, len(x), batch):
        logits = V.forward(weights, arch, config, fmnist.preprocess(x[i:i + batch], arch["resolution"]), 1.0)
        correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(x)


def plot(entries, front, ops, path, threads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([e["latency_ms"] for e in entries], [e["acc_screen"] for e in entries], s=8, c="0.75",
               label=f"sampled, screened on {entries[0]['screen_images']} test images")
    full = [e for e in entries if e.get("accuracy") is not None]
    ax.scatter([e["latency_ms"] for e in full], [e["accuracy"] for e in full], s=12, c="tab:blue",
               label="candidates, 10k test images")
    ax.step([e["latency_ms"] for e in front], [e["accuracy"] for e in front], where="post", c="tab:blue", lw=1)
    ax.scatter([e["latency_ms"] for e in ops], [e["accuracy"] for e in ops], s=80, marker="*", c="tab:red",
               label="operating points", zorder=3)
    for e in ops:
        ax.annotate(e["name"], (e["latency_ms"], e["accuracy"]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(f"dyndnn latency, ms (batch 1, {threads} thread(s), log scale)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Fashion-MNIST elastic ViT supernet: accuracy vs measured latency")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    stage = torch.load(args.stage)
    state = stage["state"]
    if state["epoch"] < stage["args"]["epochs"] and not args.allow_partial:
        raise SystemExit(f"{args.stage}: weights after epoch {state['epoch']} of {stage['args']['epochs']}; finish "
                         f"the training first (or pass --allow-partial)")
    arch = stage["arch"]
    net = V.ElasticViT(arch)
    net.load_state_dict(stage["model"])
    exported = net.export()
    weights = {k: torch.from_numpy(v) for k, v in exported.items()}
    test_x, test_y = fmnist.load(args.data, "t10k")
    idx = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(args.seed))[:args.screen_images]
    screen_x, screen_y = test_x[idx], test_y[idx]

    configs = sample_configs(arch, args.n_samples, args.seed)
    entries = []
    start = time.time()
    for i, config in enumerate(configs):
        macs, params = V.cost(arch, config)
        entries.append({"name": f"s{i}", "config": config, "macs": macs, "params": params,
                        "acc_screen": accuracy(weights, arch, config, screen_x, screen_y),
                        "screen_images": len(screen_x), "accuracy": None})
        if (i + 1) % 10 == 0 or i + 1 == len(configs):
            eta = (time.time() - start) / (i + 1) * (len(configs) - i - 1)
            print(f"screened {i + 1}/{len(configs)}  {macs / 1e6:.1f} MMACs {entries[-1]['acc_screen']:.2f}%  "
                  f"ETA {eta:.0f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:  # every sample as an operating point: dyndnn times them all
        samples = os.path.join(tmp, "samples.dyn")
        package.write(samples, arch, exported, INPUT, [{"name": e["name"], "config": e["config"]} for e in entries])
        print(f"measuring {len(entries)} sub-networks with dyndnn ({args.threads} thread(s), {args.runs} runs each)",
              flush=True)
        latency = measure(samples, args.threads, args.runs)
    for e in entries:
        e["latency_ms"] = latency[e["name"]]

    # the screened front, then the best near-front ones up to --max-candidates (see select_operating_points.py)
    by_latency = [dict(e, macs=e["latency_ms"]) for e in entries]  # pareto() and friends order by "macs"
    index = {id(b): e for b, e in zip(by_latency, entries)}
    candidates = [index[id(b)] for b in pareto(by_latency, "acc_screen")]
    for b in sorted(near_front(by_latency, "acc_screen", args.tolerance), key=lambda b: -b["acc_screen"]):
        if len(candidates) >= args.max_candidates:
            break
        if not any(index[id(b)] is c for c in candidates):
            candidates.append(index[id(b)])
    for i, e in enumerate(candidates):
        e["accuracy"] = accuracy(weights, arch, e["config"], test_x, test_y)
        print(f"full test {i + 1}/{len(candidates)}  {e['latency_ms']:.3f} ms  screen {e['acc_screen']:.2f}% "
              f"full {e['accuracy']:.2f}%", flush=True)
    full = [dict(e, macs=e["latency_ms"]) for e in entries if e["accuracy"] is not None]
    front_of = {id(f): e for f, e in zip(full, [e for e in entries if e["accuracy"] is not None])}
    by_latency_front = pareto(full, "accuracy")  # ascending latency: choose() takes its ends as the range
    front = [front_of[id(f)] for f in by_latency_front]
    ops = [front_of[id(f)] for f in choose(by_latency_front, args.n_ops)]
    ops.sort(key=lambda e: e["latency_ms"])
    for i, e in enumerate(ops):
        e["point"] = f"level{i}"
    for e in entries:
        e["on_front"] = any(e is f for f in front)
    lo, hi = ops[0], ops[-1]
    print(f"{len(front)} front points; operating points {lo['latency_ms']:.3f}-{hi['latency_ms']:.3f} ms, "
          f"{lo['macs'] / 1e6:.1f}-{hi['macs'] / 1e6:.1f} MMACs, {lo['accuracy']:.2f}-{hi['accuracy']:.2f}%", flush=True)

    points = [{"name": e["point"], "config": e["config"],
               "metrics": {"accuracy": round(e["accuracy"], 2), "latency_ms": round(e["latency_ms"], 3),
                           "latency_threads": args.threads}} for e in ops]
    extra = {"note": "Fashion-MNIST elastic ViT supernet trained by tools/train_vit_supernet.py; see models/README.md",
             "dataset": {"name": "Fashion-MNIST", "classes": fmnist.CLASSES,
                         "evaluation": "10k test images, 28x28 uint8 through the image path (/255, mean/std)"},
             "training": {"args": stage["args"], "epochs": state["epoch"], "wall_seconds": round(state["wall_seconds"]),
                          "train_seconds": round(state["train_seconds"]), "history": state["history"]},
             "selection": {"samples": len(entries), "candidates_full_test": len(candidates), "seed": args.seed,
                           "latency": {"threads": args.threads, "runs": args.runs, "batch": 1}}}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    package.write(args.out, arch, exported, INPUT, points, extra_metadata=extra)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)", flush=True)
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"arch": arch, "screen_images": len(screen_x), "test_images": len(test_x),
                   "latency": extra["selection"]["latency"],
                   "operating_points": [{"name": e["point"], "config": e["config"], "macs": e["macs"],
                                         "params": e["params"], "accuracy": e["accuracy"],
                                         "latency_ms": e["latency_ms"]} for e in ops],
                   "subnets": [{k: v for k, v in e.items() if k not in ("screen_images", "point")} for e in entries]},
                  f)
    plot(entries, front, [dict(e, name=e["point"]) for e in ops], args.plot, args.threads)
    print(f"wrote {args.json} and {args.plot}", flush=True)
    print("| operating point | ms | MMACs | params (M) | top-1 (%) | d | w | h | m |\n|---|---|---|---|---|---|---|---|---|")
    for e in ops:
        c, d = e["config"], e["config"]["d"][0]
        print(f"| {e['point']} | {e['latency_ms']:.3f} | {e['macs'] / 1e6:.2f} | {e['params'] / 1e6:.2f} | "
              f"{e['accuracy']:.2f} | {d} | {c['w'][0]} | {c['h'][:d]} | {c['m'][:d]} |", flush=True)
    return ops


if __name__ == "__main__":
    main()
