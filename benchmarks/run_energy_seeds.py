#!/usr/bin/python3
"""How much the SIMULATED Xavier NX energy figures move with the frame trace: bench_runtime_sim's energy scenario
repeated with different seeds of the frame-to-frame work variation (seed 1 is the run BENCHMARKS.md quotes), for
each domain. Writes, per governor and accuracy allowance, the saving of every seed and its min / median / max.

  /usr/bin/python3 benchmarks/run_energy_seeds.py --bench build/benchmarks/bench_runtime_sim \
      --ops benchmarks/data/dynamic_ofa_xavier_nx_levels.json --seeds 10 \
      --out benchmarks/results/runtime_sim_xavier_seeds.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--ops", required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--domains", nargs="*", default=["cpu", "gpu"])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    result = {"simulated": True, "ops": a.ops, "seeds": list(range(1, a.seeds + 1)), "domains": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for domain in a.domains:
            table = {}  # governor -> allowance -> [saving or None per seed]
            for seed in result["seeds"]:
                print(f"\r{domain}: seed {seed}/{a.seeds}", end="", file=sys.stderr, flush=True)
                out = os.path.join(tmp, f"{domain}_{seed}.json")
                r = subprocess.run([a.bench, "--ops", a.ops, "--domain", domain, "--seed", str(seed), "--out", out],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"bench_runtime_sim failed (seed {seed}, {domain}):\n{r.stderr}")
                for c in json.load(open(out))["energy"]["comparisons"]:
                    for e in c["dyndnn"]:
                        key = f"{e['accuracy_drop_allowed']:g}"
                        table.setdefault(c["governor"], {}).setdefault(key, []).append(
                            e["energy_saving_pct"] if e["match"] else None)
            print(file=sys.stderr)
            summary = {}
            for gov, by_drop in table.items():
                summary[gov] = {}
                for drop, v in by_drop.items():
                    got = [x for x in v if x is not None]
                    summary[gov][drop] = {"per_seed": v, "matched": len(got),
                                          "min": min(got) if got else None,
                                          "median": statistics.median(got) if got else None,
                                          "max": max(got) if got else None}
                    if got:
                        print(f"{domain} {gov:<12} -{drop} pt: {len(got)}/{len(v)} matched, saving "
                              f"{min(got):.1f} / {statistics.median(got):.1f} / {max(got):.1f}% (min/median/max)")
            result["domains"][domain] = summary
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
