#!/usr/bin/python3
"""Plot an adaptive_camera run: latency against the budget, the operating point's accuracy, the thread count.

Usage: /usr/bin/python3 examples/adaptive_camera/plot_run.py RUN.json OUT.png
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(trace_path, out_path):
    run = json.load(open(trace_path))
    frames, phases = run["frames"], run["phases"]
    t = [f["t"] for f in frames]
    fig, ax = plt.subplots(3, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1]})
    ax[0].plot(t, [f["latency_ms"] for f in frames], lw=0.5, color="tab:blue", label="latency")
    ax[0].plot(t, [f["budget_ms"] for f in frames], lw=1.2, color="k", ls="--", label="latency budget")
    ax[0].set_ylabel("ms")
    ax[0].set_ylim(0, 3 * max(p["budget_ms"] for p in phases))
    worth = run.get("worth", "accuracy")  # "MMACs" for a package without accuracies (random weights)
    ax[1].plot(t, [f.get("worth", f.get("accuracy")) for f in frames], lw=1, color="tab:green")
    ax[1].set_ylabel("top-1 of the\noperating point (%)" if worth == "accuracy" else "MMACs of the\noperating point")
    ax[2].plot(t, [f["threads"] for f in frames], lw=1, color="tab:purple", drawstyle="steps-post")
    ax[2].set_ylabel("threads")
    ax[2].set_yticks(sorted({f["threads"] for f in frames}))
    ax[2].set_xlabel("time (s)")
    for i, p in enumerate(phases):  # shade each phase and name it
        ts = [f["t"] for f in frames if f["phase"] == i]
        if not ts:
            continue
        for a in ax:
            a.axvspan(ts[0], ts[-1], color="tab:red" if p["load"] else "white", alpha=0.08)
            if i:
                a.axvline(ts[0], color="0.6", lw=0.8)
        ax[0].text(ts[0], ax[0].get_ylim()[1] * 0.97, " " + p["name"], fontsize=8, va="top",
                   bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))
    # Above the panel, clear of the phase names and the data.
    ax[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False)
    camera = f"camera at {run['fps']:.0f} fps" if run.get("fps") else "unpaced frames"
    weights = "" if worth == "accuracy" else "\nno accuracies in the package (random weights?): latency real, ranked by MACs"
    fig.suptitle(f"adaptive_camera: {os.path.basename(run['model'])}, {camera}; shaded: a competing process holds a "
                 f"core{weights}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
