#!/usr/bin/python3
"""Package an incrementally trained channel-group CNN: every level g = 1..G is an operating point with its top-1
on the 10k Fashion-MNIST test images (measured here with the training code's module, through the library's
preprocessing), plus the training record. `dyndnn eval` reproduces the stored accuracies (tests/python).

  /usr/bin/python3 tools/export_group_cnn.py --variant triangular --out models/fmnist_group_cnn.dyn
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import fmnist, package  # noqa: E402
from dyndnn_tools import group_cnn as GC  # noqa: E402
import train_group_cnn  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=sorted(train_group_cnn.VARIANTS), default="triangular")
    p.add_argument("--stages-dir", default="", help="default models/stages/group_cnn-<variant>")
    p.add_argument("--out", required=True)
    p.add_argument("--json", default="", help="also write the per-level table here")
    p.add_argument("--data", default=fmnist.DEFAULT_DIR)
    args = p.parse_args(argv)
    stages_dir = args.stages_dir or f"models/stages/group_cnn-{args.variant}"
    finished = sorted(int(f[5:-3]) for f in os.listdir(stages_dir) if f.startswith("stage") and f.endswith(".pt"))
    if not finished:
        raise SystemExit(f"{stages_dir}: no finished stage to export (run tools/train_group_cnn.py first)")
    saved = torch.load(os.path.join(stages_dir, f"stage{finished[-1]}.pt"))
    arch = saved["arch"]
    if finished[-1] != arch["groups"]:
        raise SystemExit(f"{stages_dir}: only stages {finished} of {arch['groups']} are trained")
    net = GC.GroupCNN(arch)
    net.load_state_dict(saved["model"])
    net.eval()
    torch.set_num_threads(1)
    test_x, test_y = fmnist.load(args.data, "t10k")
    rows = []
    for g in range(1, arch["groups"] + 1):
        top1 = 100.0 * train_group_cnn.evaluate(net, g, test_x, test_y)
        macs, params = GC.cost(arch, {"g": g})
        rows.append({"name": f"g{g}", "config": {"g": g}, "macs": macs, "params": params, "accuracy": round(top1, 2)})
        print(f"g{g}: {macs / 1e6:.2f} MMACs, {params / 1e6:.3f} M params, top-1 {top1:.2f}%", flush=True)
    state = saved["state"]
    input_spec = {"channels": 1, "mean": [fmnist.MEAN], "std": [fmnist.STD], "resolutions": [arch["resolution"]],
                  "crop_ratio": 1.0}
    extra = {"note": "Fashion-MNIST channel-group CNN trained incrementally by tools/train_group_cnn.py; see "
                     "models/README.md",
             "dataset": {"name": "Fashion-MNIST", "classes": fmnist.CLASSES,
                         "evaluation": "10k test images, 28x28 uint8 through the image path (/255, mean/std)"},
             "training": {"variant": args.variant, "args": saved["args"], "wall_seconds": round(state["wall_seconds"]),
                          "train_seconds": round(state["train_seconds"]), "history": state["history"]}}
    weights = {k: v.numpy() for k, v in net.export().items()}
    GC.check_triangular(arch, net.export())
    ops = [{"name": r["name"], "config": r["config"], "metrics": {"accuracy": r["accuracy"]}} for r in rows]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    package.write(args.out, arch, weights, input_spec, ops, extra_metadata=extra)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"variant": args.variant, "arch": arch, "levels": rows,
                       "training": extra["training"]}, f, indent=1)


if __name__ == "__main__":
    main()
