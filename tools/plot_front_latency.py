#!/usr/bin/python3
"""Accuracy of the shipped operating points against their measured latency (the MACs front is drawn by
select_operating_points.py); reads the JSON that measure_latency.py updates.

Usage: /usr/bin/python3 tools/plot_front_latency.py [docs/fmnist_subnets.json] [docs/fmnist_front_latency.png]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src="docs/fmnist_subnets.json", out="docs/fmnist_front_latency.png"):
    d = json.load(open(src))
    ops = [op for op in d["operating_points"] if op.get("latency_ms")]
    if not ops:
        sys.exit(f"{src}: no measured latencies; run tools/measure_latency.py --json {src} first")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([op["latency_ms"] for op in ops], [op["accuracy"] for op in ops], s=80, marker="*", c="tab:red",
               zorder=3)
    for op in ops:
        ax.annotate(f"{op['name']} ({op['macs'] / 1e6:.1f} MMACs, r{op['config']['r']})",
                    (op["latency_ms"], op["accuracy"]), textcoords="offset points", xytext=(5, -3), fontsize=7)
    # the latency front: points no other point beats on both latency and accuracy
    front = [op for op in ops if not any(o["latency_ms"] < op["latency_ms"] and o["accuracy"] >= op["accuracy"]
                                         for o in ops)]
    front.sort(key=lambda op: op["latency_ms"])
    ax.step([op["latency_ms"] for op in front], [op["accuracy"] for op in front], where="post", c="tab:blue", lw=1,
            label="front in measured latency")
    lat = d.get("latency", {})
    ax.set_xlabel(f"latency (ms; batch {lat.get('batch', 1)}, {lat.get('threads', 1)} thread, "
                  f"median of {lat.get('runs', '?')}, {lat.get('input', '')})", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Fashion-MNIST operating points: accuracy vs measured latency (this machine)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
