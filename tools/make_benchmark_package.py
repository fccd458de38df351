#!/usr/bin/env python3
"""Benchmark package: the full-size OFA MobileNetV3 w1.0 / w1.2 supernet with random weights and a
Dynamic-OFA-like ladder of operating points, from the smallest sub-network to the largest.

  /usr/bin/python3 tools/make_benchmark_package.py ofa_w1.0_bench.dyn --arch ofa_w1.0 --levels 6

Real OFA weights are not needed to measure speed, memory or switching: the architecture, and so the work per
sub-network, is the published one (ImageNet input, 1000 classes unless --n-classes). Level 0 is the smallest
sub-network (k3 e3 d2 at the lowest resolution), the last level the largest (k7 e6 d4 at 224); the levels between
are random sub-networks whose MACs are closest to a geometric ladder between the two, sorted by MACs, as
Dynamic-OFA's pre-sampled levels are. Each level gets BN statistics calibrated on random input for its own
sub-network (random weights wash the input out otherwise; see tools/dyndnn_tools/random_package.py).
For a published checkpoint instead of random weights, use tools/convert_ofa.py; for packages with random
operating points and reference outputs (the tests' fixtures), tools/make_random_package.py.
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import arch as A  # noqa: E402

WIDTH = {"ofa_w1.0": 1.0, "ofa_w1.2": 1.2}


def ladder(arch, resolutions, n_levels, seed=0, candidates=2000):
    """n_levels configs from the smallest to the largest sub-network, MACs spaced geometrically."""
    if n_levels < 2:
        raise ValueError("need at least 2 levels (the smallest and the largest sub-network)")
    smallest = A.normalise_config(arch, {"ks": min(arch["ks_list"]), "e": min(arch["expand_ratio_list"]),
                                         "d": min(arch["depth_list"]), "r": min(resolutions)})
    largest = A.normalise_config(arch, {"ks": max(arch["ks_list"]), "e": max(arch["expand_ratio_list"]),
                                        "d": max(arch["depth_list"]), "r": max(resolutions)})
    lo, hi = A.cost(arch, smallest)[0], A.cost(arch, largest)[0]
    rng = random.Random(seed)
    pool = [A.normalise_config(arch, A.random_config(arch, resolutions, rng)) for _ in range(candidates)]
    pool = [(A.cost(arch, c)[0], c) for c in pool]
    picked = [smallest]
    for i in range(1, n_levels - 1):
        target = lo * (hi / lo) ** (i / (n_levels - 1))
        macs, config = min(pool, key=lambda mc: abs(mc[0] - target))
        pool = [mc for mc in pool if mc[1] != config]
        picked.append(config)
    picked.append(largest)
    return sorted(picked, key=lambda c: A.cost(arch, c)[0])


def make(path, arch_name="ofa_w1.0", n_levels=6, seed=0, n_classes=1000, calib_batch=2):
    import torch

    from dyndnn_tools import package, random_package
    width = WIDTH[arch_name]
    arch = A.ofa_mbv3(width, n_classes=n_classes)
    spec = A.imagenet_input(width_mult=width)
    gen = torch.Generator().manual_seed(seed)
    weights = random_package.random_weights(arch, gen)
    configs = ladder(arch, spec["resolutions"], n_levels, seed)
    # the supernet's own statistics: calibrated for the largest sub-network (used by explicit config dicts)
    for layer, (mean, var) in random_package.calibrate(weights, arch, configs[-1], gen, calib_batch).items():
        weights[f"{layer}.bn.running_mean"][:mean.shape[0]] = mean
        weights[f"{layer}.bn.running_var"][:var.shape[0]] = var
    ops = []
    for i, config in enumerate(configs):
        stats = random_package.calibrate(weights, arch, config, gen, calib_batch)
        ops.append({"name": f"level{i}", "config": config,
                    "bn_stats": {k: (m.numpy(), v.numpy()) for k, (m, v) in stats.items()}})
    package.write(path, arch, {k: v.numpy() for k, v in weights.items()}, spec, ops,
                  extra_metadata={"note": f"random weights, OFA MBv3 w{width} ({arch_name}, seed {seed}), "
                                          f"{n_levels} Dynamic-OFA-like levels; for benchmarks"})
    return arch, configs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="package to write (.dyn)")
    p.add_argument("--arch", default="ofa_w1.0", choices=sorted(WIDTH))
    p.add_argument("--levels", type=int, default=6, help="operating points, smallest to largest (default 6)")
    p.add_argument("--n-classes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--calib-batch", type=int, default=2, help="random images per BN calibration (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the calibration (default 1)")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(max(1, args.threads))
    start = time.perf_counter()
    try:
        arch, configs = make(args.out, args.arch, args.levels, args.seed, args.n_classes, args.calib_batch)
    except ValueError as e:
        print(f"make_benchmark_package: error: {e}", file=sys.stderr)
        return 1
    ladder_text = ", ".join(f"{A.cost(arch, c)[0] / 1e6:.0f}M@{c['r']}" for c in configs)
    print(f"wrote {args.out}: {args.arch}, {len(configs)} levels (MACs@resolution: {ladder_text}); "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
