#!/usr/bin/python3
"""Draw what `dyndnn search` found: every screened sub-network (accuracy on the screening images against the
latency the lookup table predicts), the fully evaluated ones (full accuracy against measured latency) and the
operating points it kept, from OUT.dyn.candidates.json.

Usage: /usr/bin/python3 tools/plot_search.py OUT.dyn.candidates.json OUT.png [--title TEXT]
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("candidates")
    p.add_argument("png")
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    with open(args.candidates) as f:
        run = json.load(f)
    rows = run["candidates"]
    if not rows:
        sys.exit(f"plot_search: {args.candidates}: no candidates")
    kept = {json.dumps(op["config"], sort_keys=True): op["name"] for op in run["operating_points"]}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for origin, colour in (("anchor", "k"), ("random", "0.7"), ("mutation", "tab:blue"), ("crossover", "tab:cyan")):
        pts = [r for r in rows if r["origin"] == origin]
        if pts:
            ax.scatter([r["predicted_ms"][0] for r in pts], [r["screen_accuracy"] for r in pts], s=8, c=colour,
                       label=f"{origin} ({len(pts)}): screened, predicted latency")
    full = [r for r in rows if r["accuracy"] is not None]
    ax.scatter([r["measured_ms"] for r in full], [r["accuracy"] for r in full], s=18, facecolors="none",
               edgecolors="tab:orange", label=f"evaluated in full ({len(full)}), measured latency")
    ops = sorted((r for r in full if json.dumps(r["config"], sort_keys=True) in kept), key=lambda r: r["measured_ms"])
    ax.plot([r["measured_ms"] for r in ops], [r["accuracy"] for r in ops], "o-", c="tab:red", ms=5,
            label=f"operating points kept ({len(ops)})")
    for r in ops:
        ax.annotate(kept[json.dumps(r["config"], sort_keys=True)], (r["measured_ms"], r["accuracy"]),
                    textcoords="offset points", xytext=(4, -10), fontsize=7)
    threads = run.get("threads", [1])[0]
    ax.set_xlabel(f"latency on this device, {threads} thread(s) (ms)")
    ax.set_ylabel("top-1 (%)")
    sel = run["selection"]
    ax.set_title(args.title or f"dyndnn search: {sel['candidates']} sub-networks in {sel['seconds'] / 60:.1f} min",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)


if __name__ == "__main__":
    main()
