#!/usr/bin/python3
"""Worst and median run per phase over repeated runs of run_runtime_contention.py (one JSON per run): frames to
settle, share within budget after settling, and the gap to the oracle's top-1, per policy. Writes a compact JSON
(no frame traces) and prints a Markdown table for BENCHMARKS.md.

  /usr/bin/python3 benchmarks/summarize_contention.py RUN1.json RUN2.json ... --out SUMMARY.json
"""
import argparse
import json
import statistics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    results = [json.load(open(p)) for p in a.runs]
    phases = [p["name"] for p in results[0]["phases"]]
    policies = list(results[0]["runs"])
    summary = {"runs": len(results), "budgets_ms": [r["budgets_ms"] for r in results],
               "oracle": [r["oracle"] for r in results], "policies": {}}
    for pol in policies:
        per_phase = []
        for i, name in enumerate(phases):
            rows = [r["runs"][pol]["phases"][i] for r in results]
            settle = [p["settle_frames"] for p in rows]
            hit = [p["hit_rate_after_settle"] for p in rows]
            gap = [p["accuracy_gap"] for p in rows if p["accuracy_gap"] is not None]
            per_phase.append({
                "phase": name,
                "settle_frames": settle,
                "hit_rate_after_settle": hit,
                "accuracy_gap": [p["accuracy_gap"] for p in rows],
                "meets_required": [p["meets_required"] for p in rows],
                # an unsettled run (None) is the worst there is
                "worst_settle": None if None in settle else max(settle),
                "worst_hit_rate": min(hit), "median_hit_rate": statistics.median(hit),
                "worst_gap": max(gap) if gap else None, "median_gap": statistics.median(gap) if gap else None,
            })
        summary["policies"][pol] = {"phases": per_phase,
                                    "hit_rate": [r["runs"][pol]["hit_rate"] for r in results],
                                    "runs_meeting_all": sum(all(p["meets_required"] for p in r["runs"][pol]["phases"])
                                                            for r in results)}
    json.dump(summary, open(a.out, "w"), indent=1)

    def cell(p):
        settle = "never" if p["worst_settle"] is None else f"{p['worst_settle']} fr"
        gap = "" if p["worst_gap"] is None else f", gap {round(p['worst_gap'], 2) + 0.0:.2f} / {round(p['median_gap'], 2) + 0.0:.2f}"
        ok = sum(p["meets_required"])
        return f"{settle}, {100 * p['worst_hit_rate']:.1f}% / {100 * p['median_hit_rate']:.1f}%{gap} ({ok}/{len(results)})"

    print("| Policy | " + " | ".join(phases) + " | runs meeting all |")
    print("|---|" + "---|" * (len(phases) + 1))
    for pol, s in summary["policies"].items():
        print(f"| {pol} | " + " | ".join(cell(p) for p in s["phases"]) + f" | {s['runs_meeting_all']}/{len(results)} |")


if __name__ == "__main__":
    main()
