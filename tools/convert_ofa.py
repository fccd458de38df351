#!/usr/bin/env python3
"""Convert a published Once-for-All MobileNetV3 supernet checkpoint into a .dyn package.

  /usr/bin/python3 tools/convert_ofa.py ofa_mbv3_d234_e346_k357_w1.0 ofa_w1.0.dyn --width-mult 1.0
  /usr/bin/python3 tools/convert_ofa.py ofa_mbv3_d234_e346_k357_w1.2 levels.dyn --width-mult 1.2 --levels levels.json

The checkpoint is torch.load(IN)['state_dict'] (or a bare state dict), in OFA's current key naming or the older
`mobile_inverted_conv` one. Every tensor is checked against the OFA MBv3 architecture (ks [3,5,7], expand [3,4,6],
depth [2,3,4]) of the given width: a missing, unexpected or wrongly shaped tensor stops the conversion with exit
status 1 and a message naming the key and what to change. The package gets ImageNet preprocessing (mean
0.485/0.456/0.406, std 0.229/0.224/0.225, crop ratio 0.875, resolutions 128..224 step 4 for w1.0, 160..224 for
w1.2).

Operating points: without --levels, the smallest (k3 e3 d2 at the lowest resolution), a middle (k5 e4 d3 r192) and
the largest (k7 e6 d4 r224) sub-networks, on the supernet's own BN statistics (OFA recalibrates BN per
sub-network: expect the smaller ones to lose accuracy until they get their own statistics). With --levels, a
Dynamic-OFA-style JSON list of levels: [{"name": "level0", "config": {"ks": [20 ints], "e": [20 ints],
"d": [5 ints], "r": 176}, "accuracy": 74.2, "bn_stats": "level0_bn.pth"}, ...]; bn_stats (optional, relative to
the JSON) is a state dict file of the level's `<module>.running_mean` / `running_var`, numbered as in the supernet
or as in OFA's static sub-network.

Security: a pickle checkpoint (torch.save) can run code when it is loaded. This tool loads it with
torch.load(weights_only=True) where the installed torch supports that, and unpickles fully only with
--trust-pickle. The .dyn it writes is plain safetensors and never runs code when loaded.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import ofa_convert  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="OFA MBv3 supernet checkpoint (torch.save file, or .safetensors)")
    p.add_argument("out", help="package to write (.dyn)")
    p.add_argument("--width-mult", type=float, required=True, help="width multiplier of the supernet: 1.0 or 1.2")
    p.add_argument("--n-classes", type=int, default=1000, help="classifier outputs (default 1000, ImageNet)")
    p.add_argument("--levels", help="Dynamic-OFA-style JSON list of levels to store as operating points")
    p.add_argument("--trust-pickle", action="store_true",
                   help="unpickle the checkpoint fully (can run code from the file); only for files you trust")
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        s = ofa_convert.convert(args.checkpoint, args.out, args.width_mult, args.n_classes, args.levels,
                                args.trust_pickle)
    except ofa_convert.ConversionError as e:
        print(f"convert_ofa: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"convert_ofa: error: {e}", file=sys.stderr)
        return 1
    ops = ", ".join(f"{op['name']} ({op['config']['r']}px{', own BN' if op.get('bn_stats') else ''})"
                    for op in s["operating_points"])
    print(f"wrote {args.out}: OFA MBv3 w{s['width_mult']}, {s['n_classes']} classes, {s['tensors']} tensors "
          f"({s['values'] / 1e6:.2f} M values; {s['ignored']} num_batches_tracked ignored; "
          f"'{s['naming']}' naming), {len(s['operating_points'])} operating points: {ops}; "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
