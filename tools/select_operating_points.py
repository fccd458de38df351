#!/usr/bin/python3
"""Pick operating points from the trained Fashion-MNIST supernet and ship them in a .dyn package.

1. sample sub-networks (largest and smallest at every resolution, the rest random);
2. for each: recalibrate its BN statistics on 2000 training images (OFA's recalibration), screen its top-1 on a
   subset of the test images;
3. evaluate on all 10k test images the candidates on or near the screened accuracy/MACs front (a 2000-image
   accuracy has a standard error of ~0.6 points, so near-front configs get a second look);
4. keep the Pareto front of full-test accuracy against MACs and choose --n-ops points spread evenly in log MACs;
5. write the package (shared weights + per-operating-point BN statistics + metrics), the JSON of every evaluated
   sub-network and a plot of the front.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import arch as A  # noqa: E402
from dyndnn_tools import fmnist, package, supernet  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="models/training/last.pt")
    p.add_argument("--data", default=fmnist.DEFAULT_DIR)
    p.add_argument("--out", default="models/fmnist_ofa_mbv3.dyn")
    p.add_argument("--json", default="docs/fmnist_subnets.json")
    p.add_argument("--plot", default="docs/fmnist_front.png")
    p.add_argument("--n-samples", type=int, default=300)
    p.add_argument("--screen-images", type=int, default=2000, help="test images for the cheap first evaluation")
    p.add_argument("--calib-images", type=int, default=2000)
    p.add_argument("--tolerance", type=float, default=0.6, help="points below the screened front still kept")
    p.add_argument("--max-candidates", type=int, default=50)
    p.add_argument("--n-ops", type=int, default=8)
    p.add_argument("--max-screen-seconds", type=float, default=0, help="stop sampling after this long (0: no limit)")
    p.add_argument("--extra-resolutions", type=int, nargs="*", default=[20],
                   help="resolutions not used in training, offered with BN recalibration alone: cheaper, less "
                        "accurate sub-networks that widen the front")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--allow-partial", action="store_true", help="accept a checkpoint whose training is unfinished")
    return p.parse_args(argv)


def key(config):
    return json.dumps(config, sort_keys=True)


def sample_configs(net, arch, resolutions, n, seed):
    rng = random.Random(seed)
    configs = {}
    for r in resolutions:  # the extremes anchor both ends of the front
        for c in (net.largest_config(r), net.smallest_config(r)):
            c = A.normalise_config(arch, c)
            configs[key(c)] = c
    while len(configs) < n:
        c = A.normalise_config(arch, A.random_config(arch, resolutions, rng))
        configs[key(c)] = c
    return list(configs.values())


def pareto(entries, acc_key):
    """Entries not dominated in (fewer MACs, higher accuracy), ascending MACs."""
    front, best = [], -1.0
    for e in sorted(entries, key=lambda e: (e["macs"], -e[acc_key])):
        if e[acc_key] > best:
            front.append(e)
            best = e[acc_key]
    return front


def near_front(entries, acc_key, tolerance):
    """Entries within `tolerance` points of the best accuracy reached at their MACs or fewer."""
    out, best = [], -1.0
    for e in sorted(entries, key=lambda e: (e["macs"], -e[acc_key])):
        best = max(best, e[acc_key])
        if e[acc_key] >= best - tolerance:
            out.append(e)
    return out


def choose(front, n):
    """n points of the front spread evenly in log MACs, always both ends."""
    if len(front) <= n:
        return list(front)
    lo, hi = math.log(front[0]["macs"]), math.log(front[-1]["macs"])
    chosen = []
    for i in range(n):
        target = lo + (hi - lo) * i / (n - 1)
        pool = [e for e in front if e not in chosen]
        chosen.append(min(pool, key=lambda e: abs(math.log(e["macs"]) - target)))
    return sorted(chosen, key=lambda e: e["macs"])


def plot(entries, front, ops, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([e["macs"] / 1e6 for e in entries], [e["acc_screen"] for e in entries], s=8, c="0.75",
               label=f"sampled, screened on {entries[0]['screen_images']} test images")
    full = [e for e in entries if e.get("accuracy") is not None]
    ax.scatter([e["macs"] / 1e6 for e in full], [e["accuracy"] for e in full], s=12, c="tab:blue",
               label="candidates, 10k test images")
    # the front as a step: from each point the best accuracy holds until the next, more expensive one
    ax.step([e["macs"] / 1e6 for e in front], [e["accuracy"] for e in front], where="post", c="tab:blue", lw=1)
    ax.scatter([e["macs"] / 1e6 for e in ops], [e["accuracy"] for e in ops], s=80, marker="*", c="tab:red",
               label="operating points", zorder=3)
    for e in ops:
        ax.annotate(e["name"], (e["macs"] / 1e6, e["accuracy"]), textcoords="offset points", xytext=(4, -10),
                    fontsize=7)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("MMACs (log scale)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Fashion-MNIST OFA-MobileNetV3 supernet: accuracy vs MACs")
    shown = [e["acc_screen"] for e in entries] + [e["accuracy"] for e in full]
    ax.set_ylim(min(shown) - 0.5, max(shown) + 0.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = torch.load(args.checkpoint)
    state = ckpt["state"]
    if state["epoch"] < ckpt["args"]["epochs"] and not args.allow_partial:
        raise SystemExit(f"{args.checkpoint}: training stopped at epoch {state['epoch']} of "
                         f"{ckpt['args']['epochs']}; resume it first (or pass --allow-partial)")
    arch, input_spec = ckpt["arch"], dict(ckpt["input"])
    trained = list(input_spec["resolutions"])
    input_spec["resolutions"] = sorted(set(trained) | set(args.extra_resolutions))
    net = supernet.Supernet(arch)
    net.load_state_dict(ckpt["model"])
    net.eval()
    train_x, _ = fmnist.load(args.data, "train")
    test_x, test_y = fmnist.load(args.data, "t10k")
    calib_x = fmnist.calibration_images(train_x, args.calib_images, seed=args.seed)
    # a fixed random subset of the test set for screening (not the first images: the files are not shuffled
    # by class, but a random subset avoids any ordering effect)
    screen_idx = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(args.seed))[:args.screen_images]
    screen_x, screen_y = test_x[screen_idx], test_y[screen_idx]

    configs = sample_configs(net, arch, input_spec["resolutions"], args.n_samples, args.seed)
    entries, stats_of = [], {}
    start = time.time()
    for i, config in enumerate(configs):
        stats = fmnist.calibrate(net, config, calib_x)
        acc = 100.0 * fmnist.evaluate(net, config, stats, screen_x, screen_y)
        macs, params = A.cost(arch, config)
        entries.append({"config": config, "macs": macs, "params": params, "acc_screen": acc,
                        "screen_images": len(screen_x), "accuracy": None})
        stats_of[key(config)] = stats
        elapsed = time.time() - start
        if (i + 1) % 10 == 0 or i + 1 == len(configs) or i < 2 * len(input_spec["resolutions"]):
            eta = elapsed / (i + 1) * (len(configs) - i - 1)
            print(f"screened {i + 1}/{len(configs)}  {macs / 1e6:.2f} MMACs {acc:.2f}%  ETA {eta:.0f} s", flush=True)
        if args.max_screen_seconds and elapsed > args.max_screen_seconds:
            print(f"screening stopped after {i + 1} sub-networks (--max-screen-seconds)", flush=True)
            break

    # every screened front point, then the best of the near-front ones (accuracy order) up to --max-candidates;
    # the front itself is never cut, or its cheap end would be lost to the many accurate mid-size configs
    candidates = pareto(entries, "acc_screen")
    for e in sorted(near_front(entries, "acc_screen", args.tolerance), key=lambda e: -e["acc_screen"]):
        if len(candidates) >= args.max_candidates:
            break
        if not any(e is c for c in candidates):
            candidates.append(e)
    largest = key(A.normalise_config(arch, net.largest_config(max(input_spec["resolutions"]))))
    candidates += [e for e in entries if key(e["config"]) == largest and not any(e is c for c in candidates)]
    start = time.time()
    for i, e in enumerate(candidates):
        e["accuracy"] = 100.0 * fmnist.evaluate(net, e["config"], stats_of[key(e["config"])], test_x, test_y)
        print(f"full test {i + 1}/{len(candidates)}  {e['macs'] / 1e6:.2f} MMACs  screen {e['acc_screen']:.2f}% "
              f"full {e['accuracy']:.2f}%  ({time.time() - start:.0f} s)", flush=True)

    front = pareto([e for e in entries if e["accuracy"] is not None], "accuracy")
    ops = choose(front, args.n_ops)
    for i, e in enumerate(ops):
        e["name"] = f"level{i}"
    for e in entries:
        e["on_front"] = any(e is f for f in front)
    smallest, top = ops[0], ops[-1]
    print(f"{len(front)} front points; operating points {smallest['macs'] / 1e6:.2f}-{top['macs'] / 1e6:.2f} MMACs, "
          f"{smallest['accuracy']:.2f}-{top['accuracy']:.2f}%", flush=True)
    if smallest["macs"] * 4 > top["macs"] or top["accuracy"] - smallest["accuracy"] < 3.0:
        print("WARNING: the operating points span less than 4x MACs or 3 accuracy points", flush=True)

    # the supernet's own running statistics mix every sub-network trained; replace them by the largest operating
    # point's calibrated statistics so a config without stored statistics still runs on sensible ones
    weights = net.weights()
    for layer, (mean, var) in stats_of[key(top["config"])].items():
        c = len(mean)
        weights[f"{layer}.bn.running_mean"][:c] = mean.numpy()
        weights[f"{layer}.bn.running_var"][:c] = var.numpy()
    operating_points = [{"name": e["name"], "config": e["config"],
                         "bn_stats": {k: (m.numpy(), v.numpy()) for k, (m, v) in stats_of[key(e["config"])].items()},
                         "metrics": {"accuracy": round(e["accuracy"], 2)}} for e in ops]
    history = state.get("history", [])
    extra = {"note": "Fashion-MNIST OFA-MobileNetV3 supernet trained by tools/train_supernet.py; see models/README.md",
             "dataset": {"name": "Fashion-MNIST", "classes": fmnist.CLASSES,
                         "evaluation": "10k test images, 28x28 uint8 through the image path (resize to r with "
                                       "antialiased bilinear, /255, mean/std)"},
             "training": {"args": ckpt["args"], "epochs": state["epoch"], "wall_seconds": round(state["wall_seconds"]),
                          "history": history},
             "selection": {"trained_resolutions": trained, "untrained_resolutions": sorted(args.extra_resolutions),
                           "samples": len(entries), "candidates_full_test": len(candidates),
                           "calib_images": len(calib_x), "seed": args.seed}}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    package.write(args.out, arch, weights, input_spec, operating_points, extra_metadata=extra)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)", flush=True)

    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"arch": arch, "input": input_spec, "trained_resolutions": trained, "screen_images": len(screen_x), "test_images": len(test_x),
                   "operating_points": [{"name": e["name"], "config": e["config"], "macs": e["macs"],
                                         "params": e["params"], "accuracy": e["accuracy"]} for e in ops],
                   "subnets": [{k: v for k, v in e.items() if k != "screen_images"} for e in entries]}, f)
    plot(entries, front, ops, args.plot)
    print(f"wrote {args.json} and {args.plot}", flush=True)
    print("| operating point | MMACs | params (M) | top-1 (%) | resolution | depths |\n|---|---|---|---|---|---|")
    for e in ops:  # markdown, for the model card
        print(f"| {e['name']} | {e['macs'] / 1e6:.2f} | {e['params'] / 1e6:.2f} | {e['accuracy']:.2f} | "
              f"{e['config']['r']} | {e['config']['d']} |", flush=True)
    return ops


if __name__ == "__main__":
    main()
