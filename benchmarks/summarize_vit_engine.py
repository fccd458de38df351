#!/usr/bin/python3
"""Median and worst run over repeated runs of run_vit_engine.py (one vit_engine.json per run): per thread count and
operating point, dyndnn's median latency, its ratio to the static TorchScript peer with the default (reference)
BLAS and with OpenBLAS, and the switching costs. Prints Markdown tables for BENCHMARKS.md and writes a compact JSON.

  /usr/bin/python3 benchmarks/summarize_vit_engine.py RUN1.json RUN2.json RUN3.json --out SUMMARY.json
"""
import argparse
import json
import statistics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    runs = [json.load(open(p)) for p in a.runs]
    rows, switching = [], []
    for t, by_threads in enumerate(runs[0]["peer_blas"]["reference"]):
        for i, row in enumerate(by_threads["rows"]):
            def over_runs(blas, key):
                return [r["peer_blas"][blas][t]["rows"][i][key] for r in runs]
            ours = [r["peer_blas"]["openblas"][t]["rows"][i]["dyndnn"]["median_ms"] for r in runs]
            peer_ob = [r["peer_blas"]["openblas"][t]["rows"][i]["peer"]["median_ms"] for r in runs]
            rows.append({"threads": by_threads["threads"], "op": row["op"], "macs": row["macs"],
                         "dyndnn_ms": statistics.median(ours), "peer_openblas_ms": statistics.median(peer_ob),
                         "ratio_reference": statistics.median(over_runs("reference", "ratio")),
                         "ratio_reference_worst": max(over_runs("reference", "ratio")),
                         "ratio_openblas": statistics.median(over_runs("openblas", "ratio")),
                         "ratio_openblas_worst": max(over_runs("openblas", "ratio")),
                         "max_rel_diff_vs_peer": max(over_runs("openblas", "max_rel_diff_vs_peer"))})
        for i, sw in enumerate(by_threads["switching"]):
            def sw_runs(key):
                return [r["peer_blas"]["openblas"][t]["switching"][i][key] for r in runs]
            switching.append({"threads": by_threads["threads"], "op": sw["op"],
                              "inference_ms": statistics.median(sw_runs("inference_median_ms")),
                              "cached_overhead_ms": statistics.median(sw_runs("cached_overhead_ms")),
                              "uncached_overhead_ms": statistics.median(sw_runs("uncached_overhead_ms")),
                              "uncached_overhead_worst_ms": max(sw_runs("uncached_overhead_worst_ms"))})
    recorded = [r["peer_freeze_to_first_output_ms"] for r in runs if "peer_freeze_to_first_output_ms" in r]
    freeze = {op: statistics.median(f[op] for f in recorded) for op in (recorded[0] if recorded else {})}
    with open(a.out, "w") as f:
        json.dump({"runs": a.runs, "dates": [r["date"] for r in runs], "rows": rows, "switching": switching,
                   "peer_freeze_to_first_output_ms": freeze}, f, indent=1)
    print("| threads | operating point | MMACs | dyndnn ms | ratio to peer, default BLAS: median (worst) "
          "| peer with OpenBLAS, ms | ratio: median (worst) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['op']} | {r['macs'] / 1e6:.1f} | {r['dyndnn_ms']:.3f} | "
              f"{r['ratio_reference']:.2f} ({r['ratio_reference_worst']:.2f}) | {r['peer_openblas_ms']:.3f} | "
              f"{r['ratio_openblas']:.2f} ({r['ratio_openblas_worst']:.2f}) |")
    print(f"\nlargest output difference vs the peer: {max(r['max_rel_diff_vs_peer'] for r in rows):.1e} relative\n")
    print("| threads | operating point | inference ms | cached switch adds, ms | uncached switch adds, ms: median "
          "(worst) | static peer: slice, trace, freeze to first output, ms |\n|---|---|---|---|---|---|")
    for s in switching:
        print(f"| {s['threads']} | {s['op']} | {s['inference_ms']:.3f} | {s['cached_overhead_ms']:.3f} | "
              f"{s['uncached_overhead_ms']:.2f} ({s['uncached_overhead_worst_ms']:.2f}) | "
              f"{freeze.get(s['op'], float('nan')):.0f} |")


if __name__ == "__main__":
    main()
