#!/usr/bin/env python3
"""Write a .dyn package with random weights and calibrated BN statistics (and optionally reference outputs).

Example: /usr/bin/python3 tools/make_random_package.py out.dyn --arch ofa_w1.0 --ops 20 --refs out.refs
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import random_elastic_vit, random_group_cnn, random_package  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="package to write (.dyn)")
    p.add_argument("--arch", default="ofa_w1.0", choices=sorted(random_package.ARCHS) + sorted(random_group_cnn.ARCHS) +
                   sorted(random_elastic_vit.ARCHS))
    p.add_argument("--ops", type=int, default=6, help="number of random operating points")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--supernet-bn-ops", type=int, default=0,
                   help="how many of the operating points use the supernet's BN statistics instead of their own")
    p.add_argument("--refs", help="also write reference inputs/outputs (safetensors) to this path")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: tests run several of these at once, and spinning OpenMP "
                        "teams on an oversubscribed machine are many times slower)")
    args = p.parse_args()
    import torch
    torch.set_num_threads(max(1, args.threads))
    if args.arch in random_group_cnn.ARCHS:  # every level is an operating point; --ops does not apply
        if not args.refs:
            p.error("--refs is required for group_cnn packages")
        random_group_cnn.write(args.out, args.arch, args.seed, args.refs)
    elif args.arch in random_elastic_vit.ARCHS:  # --ops includes the largest and the smallest
        random_elastic_vit.write(args.out, args.arch, max(2, args.ops), args.seed, args.refs)
    else:
        random_package.write(args.out, args.arch, args.ops, args.seed, args.refs, args.supernet_bn_ops)
    print(f"wrote {args.out}" + (f" and {args.refs}" if args.refs else ""))


if __name__ == "__main__":
    main()
