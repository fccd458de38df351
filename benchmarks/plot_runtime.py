#!/usr/bin/python3
"""Plots for the runtime manager benchmarks (BENCHMARKS.md, section "Runtime manager").

  /usr/bin/python3 benchmarks/plot_runtime.py [--sim RESULT.json ...] [--contention RESULT.json]
                                              [--two-workloads RESULT.json] [--outdir DIR]
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def print_phases(e, tag):
    """Energy, mean frequency and latency per third of the trace (the middle third has the background load)."""
    print(f"{tag}: energy J / mean frequency MHz / mean latency ms in each third of the trace")
    for k, v in e["series"].items():
        n = len(v["energy_j"])
        cells = []
        for a, b in ((0, n // 3), (n // 3, 2 * n // 3), (2 * n // 3, n)):
            mhz = sum(v["freq"][a:b]) / (b - a) / (1e3 if e["domain"] == "cpu" else 1e6)
            cells.append(f"{sum(v['energy_j'][a:b]):6.2f} / {mhz:5.0f} / {sum(v['latency_ms'][a:b]) / (b - a):6.2f}")
        print(f"  {k:<16} " + " | ".join(cells))


def plot_sim(path, outdir):
    r = json.load(open(path))
    e = r["energy"]
    tag = os.path.splitext(os.path.basename(path))[0]
    s = e["series"]
    print_phases(e, tag)
    keys = [k for k in ("schedutil", "dyndnn_drop_0.0", "dyndnn_drop_1.0") if k in s]
    fig, ax = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    n = len(s["schedutil"]["latency_ms"])
    for k in keys:
        lbl = {"schedutil": "schedutil (fixed network, emulated)", "dyndnn_drop_0.0": "dyndnn (same accuracy)",
               "dyndnn_drop_1.0": "dyndnn (<= 1 pt top-1 less)"}[k]
        ax[0].plot(s[k]["latency_ms"], lw=0.7, label=lbl)
        ax[1].plot([f / 1e3 if e["domain"] == "cpu" else f / 1e6 for f in s[k]["freq"]], lw=0.7, label=lbl)
        ax[2].plot([x * 1e3 for x in s[k]["energy_j"]], lw=0.7, label=lbl)
    ax[0].axhline(e["period_ms"], color="k", ls="--", lw=0.8, label="deadline (frame period)")
    for a in ax:
        a.axvspan(n / 3, 2 * n / 3, color="grey", alpha=0.12)
    ax[0].set_ylabel("latency (ms)")
    ax[1].set_ylabel("mean frequency (MHz)")
    ax[2].set_ylabel("energy / frame (mJ)")
    ax[2].set_xlabel("frame (shaded: other processes take 30% of every core)")
    ax[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"SIMULATED {e['label'].split(' (')[0][10:]} {e['domain'].upper()}: dyndnn vs schedutil at similar latency")
    fig.tight_layout()
    out = os.path.join(outdir, f"{tag}_series.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    govs = [c["governor"] for c in e["comparisons"]]
    drops = [d["accuracy_drop_allowed"] for d in e["comparisons"][0]["dyndnn"]]
    w = 0.8 / len(drops)
    for j, d in enumerate(drops):
        vals = []
        for c in e["comparisons"]:
            m = c["dyndnn"][j]
            vals.append(m["energy_saving_pct"] if m["match"] else 0)
        bars = ax.bar([i + j * w for i in range(len(govs))], vals, w, label=f"top-1 given up <= {d} pt")
        for b, c in zip(bars, e["comparisons"]):
            if not c["dyndnn"][j]["match"]:
                ax.text(b.get_x() + w / 2, 0.5, "no match", rotation=90, fontsize=6, ha="center")
    ax.axhline(16.5, color="r", ls="--", lw=0.8, label="paper: 16.5%")
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(govs))])
    ax.set_xticklabels(govs)
    ax.set_ylabel("energy saved vs governor (%)")
    ax.legend(fontsize=7)
    ax.set_title(f"SIMULATED {e['domain'].upper()}: energy at similar latency (mean within 5%, hit rate not lower)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, f"{tag}_savings.png"), dpi=110)
    plt.close(fig)

    t = r["two_workloads"]
    fig, ax = plt.subplots(figsize=(7, 3))
    names = ["arbiter", "independent_managers", "schedutil_fixed"]
    for j, wl in enumerate(["detector", "classifier"]):
        ax.bar([i + j * 0.4 for i in range(3)], [100 * t[n][wl]["hit_rate"] for n in names], 0.4, label=wl)
    ax.set_xticks([i + 0.2 for i in range(3)])
    ax.set_xticklabels([f"{n}\n{t[n]['energy_j']:.1f} J" for n in names], fontsize=8)
    ax.set_ylabel("frames within budget (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    ax.set_title("SIMULATED Odroid XU3: two models, different budgets", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, f"{tag}_two_workloads.png"), dpi=110)
    plt.close(fig)


def plot_sim_contention(path, outdir):
    r = json.load(open(path))
    c = r.get("contention")
    if not c:
        return
    tag = os.path.splitext(os.path.basename(path))[0]
    runs = c["runs"]
    n = c["phase_frames"]
    fig, ax = plt.subplots(len(runs), 1, figsize=(10, 2.1 * len(runs)), sharex=True)
    for a, (name, run) in zip(ax, runs.items()):
        s = run["series"]
        a.plot(s["latency_ms"], lw=0.6, label="latency")
        a.plot(s["budget_ms"], "k--", lw=0.8, label="budget")
        a.axvspan(n, 2 * n, color="red", alpha=0.08)
        a.set_ylim(0, max(s["budget_ms"]) * 2.5)
        a.set_ylabel("ms", fontsize=7)
        a2 = a.twinx()
        a2.plot(s["accuracy"], color="tab:green", lw=0.8)
        a2.set_ylabel("top-1 %", fontsize=7)
        ok = "all required met" if run["all_required_met"] else "required NOT met"
        a.set_title(f"{name}: {ok}", fontsize=8)
    ax[-1].set_xlabel("frame (red: competitor busy on one of the two cores; budget tightens at the last phase)")
    fig.suptitle("SIMULATED 2-core CPU, contention protocol (latency blue, budget dashed, top-1 of chosen op green)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, f"{tag}_contention.png"), dpi=110)
    plt.close(fig)


def plot_contention(path, outdir):
    r = json.load(open(path))
    runs = r["runs"]
    fig, ax = plt.subplots(len(runs), 1, figsize=(10, 2.2 * len(runs)), sharex=True)
    for a, (name, run) in zip(ax, runs.items()):
        fr = run["frames"]
        a.plot([f["latency_ms"] for f in fr], lw=0.6, label="latency")
        a.plot([f["budget_ms"] for f in fr], "k--", lw=0.8, label="budget")
        a2 = a.twinx()
        a2.plot([f["accuracy"] for f in fr], color="tab:green", lw=0.8, label="top-1 of chosen op")
        a2.set_ylabel("top-1 (%)", fontsize=7)
        for ph in r["phases"]:
            if ph.get("competitor"):
                a.axvspan(ph["start"], ph["end"], color="red", alpha=0.08)
        a.set_ylabel("ms", fontsize=7)
        a.set_title(f"{name}: within budget {100 * run['hit_rate']:.1f}%, mean top-1 {run['mean_accuracy']:.2f}", fontsize=8)
        a.set_ylim(0, max(f["budget_ms"] for f in fr) * 3)
    ax[-1].set_xlabel("frame (red: busy loop pinned to one core)")
    fig.suptitle("Real contention on this 2-core machine (Fashion-MNIST model)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "runtime_contention.png"), dpi=110)
    plt.close(fig)


def plot_two_workloads(path, outdir):
    """Real two-workload run: per set-up, each model's share of frames within budget and top-1 per 20-frame window."""
    r = json.load(open(path))
    order = ["arbiter", "independent_pinning", "independent_linux", "fixed_largest"]
    setups = {k: r["setups"][k] for k in order if k in r["setups"]}
    accs = [e["accuracy"] for e in r["profile_pinned"]["entries"]]
    fig, ax = plt.subplots(len(setups), 1, figsize=(10, 2.2 * len(setups)), sharex=True)
    for a, (name, s) in zip(ax, setups.items()):
        a2 = a.twinx()
        for model, colour in (("detector", "tab:blue"), ("classifier", "tab:orange")):
            w = s[model]["windows"]
            x = [20 * i for i in range(len(w))]
            a.plot(x, [100 * v["within"] for v in w], color=colour, lw=0.8,
                   label=f"{model} within budget ({100 * s[model]['within_budget']:.1f}%)")
            a2.plot(x, [v["accuracy"] for v in w], color=colour, lw=0.6, ls=":")
        a2.set_ylim(min(accs) - 0.5, max(accs) + 0.5)
        a.axhline(95, color="k", ls="--", lw=0.6)
        a.set_ylim(0, 105)
        a.set_ylabel("% in budget", fontsize=7)
        a2.set_ylabel("top-1 of op (dotted)", fontsize=7)
        a.set_title(name, fontsize=8)
        a.legend(fontsize=7, loc="lower left")
    ax[-1].set_xlabel("frame of the model (20-frame windows; dashed: 95%)")
    b = r["budgets_ms"]
    fig.suptitle(f"Two models in one process on this 2-core machine: detector budget {b['detector']:.2f} ms, "
                 f"classifier {b['classifier']:.2f} ms", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "two_workloads_real.png"), dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", nargs="*", default=[])
    ap.add_argument("--contention")
    ap.add_argument("--two-workloads")
    ap.add_argument("--outdir", default=os.path.join(os.path.dirname(__file__), "figures"))
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    for p in a.sim:
        plot_sim(p, a.outdir)
        plot_sim_contention(p, a.outdir)
    if a.contention:
        plot_contention(a.contention, a.outdir)
    if a.two_workloads:
        plot_two_workloads(a.two_workloads, a.outdir)


if __name__ == "__main__":
    main()
