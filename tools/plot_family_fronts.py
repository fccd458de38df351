#!/usr/bin/python3
"""The accuracy fronts of several model families side by side: each package's operating points (top-1 and MACs
from the package, latency as its selection measured it with dyndnn) against MACs and against latency.

Usage: /usr/bin/python3 tools/plot_family_fronts.py OUT.png LABEL=PACKAGE.dyn [LABEL=PACKAGE.dyn ...]
  e.g. tools/plot_family_fronts.py docs/fmnist_families.png OFA-MobileNetV3=models/fmnist_ofa_mbv3.dyn \\
       "elastic ViT=models/fmnist_elastic_vit.dyn"
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import package  # noqa: E402


def points(path):
    meta, _, _ = package.read(path)
    out = []
    for op in meta["operating_points"]:
        m = op["metrics"]
        if m.get("accuracy") is None:
            raise SystemExit(f"{path}: operating point {op['name']} has no stored accuracy")
        out.append({"name": op["name"], "macs": m["macs"], "accuracy": m["accuracy"], "latency_ms": m.get("latency_ms"),
                    "threads": m.get("latency_threads")})
    return meta["family"], out


def front(ops, key):
    """The points no other point beats on both `key` and accuracy, ascending `key`."""
    kept = [o for o in ops if not any(p[key] < o[key] and p["accuracy"] >= o["accuracy"] for p in ops)]
    return sorted(kept, key=lambda o: o[key])


def main(argv):
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        sys.exit(__doc__)
    out, families = argv[0], [a.split("=", 1) for a in argv[1:]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    threads = set()
    for (label, path), colour in zip(families, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        family, ops = points(path)
        for ax, key, scale in ((axes[0], "macs", 1e-6), (axes[1], "latency_ms", 1.0)):
            timed = [o for o in ops if o[key] is not None]
            if not timed:
                continue
            f = front(timed, key)
            ax.step([o[key] * scale for o in f], [o["accuracy"] for o in f], where="post", c=colour, lw=1)
            ax.scatter([o[key] * scale for o in timed], [o["accuracy"] for o in timed], s=30, c=colour,
                       label=f"{label} ({family}, {len(ops)} points)")
        threads |= {o["threads"] for o in ops if o["threads"]}
    axes[0].set_xlabel("MMACs (log scale)")
    axes[1].set_xlabel(f"dyndnn latency, ms (batch 1, {'/'.join(map(str, sorted(threads))) or '?'} thread; log scale)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_ylabel("top-1 accuracy on the 10k test images (%)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Fashion-MNIST: operating points of each family trained here (fronts as steps)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
