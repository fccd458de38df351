#!/usr/bin/python3
"""Incrementally train the channel-group CNN on Fashion-MNIST (CPU, seeded, resumable, progress shown).

Stage g trains group g's parameters (its convolution rows, BN, hidden units and classifier part) on the level-g
network's loss, with groups < g frozen: their weights and BN statistics never change, so every level keeps the
accuracy it had when its stage ended. Group g's classifier part starts at zero, so stage g starts exactly at level
g-1's accuracy. Each stage: SGD (Nesterov, momentum 0.9), warm-up + cosine learning rate, label-smoothed cross
entropy, random crop (2 px padding) and horizontal flip.

The loss of stage g is the level-g network's cross entropy plus --own-loss times the cross entropy of group g's own
classifier contribution. On the level-g loss alone a new group learns almost nothing (measured in
docs/group_cnn_training.md: the frozen groups already explain most of the loss, so the gradient that reaches the
new group is small and mostly asks for less confidence); its own term makes group g a classifier in its own right,
reading the frozen groups' features, and the level-g term fits the sum.

Resuming: <out>/last.pt (inside the stage, every --save-every seconds) is the exact state; <stages>/stage<g>.pt are
the weights at the end of each stage (small, meant to be committed), so a run on another machine continues from
the last finished stage. Every random choice is a function of (seed, stage, step).
  nohup /usr/bin/python3 tools/train_group_cnn.py --variant triangular > models/training/gc-tri.log 2>&1 &
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import fmnist  # noqa: E402
from dyndnn_tools import group_cnn as GC  # noqa: E402
from train_supernet import fmt_time, lr_at, save  # noqa: E402  (the same schedule, atomic save and clock format)

# Whole-layer widths. Triangular: groups of 1/8, 1/8, 1/4 and 1/2 of every layer, so level g is a network of
# 1/8, 1/4, 1/2 and all of the width (four equal groups left every level within ~1 point of the others: a
# quarter-width network already reaches ~91% on Fashion-MNIST). Grouped (the paper's form): equal towers.
VARIANTS = {
    "triangular": {"connectivity": "triangular", "conv_widths": (48, 96, 128, 128, 96), "fc_widths": (384,),
                   "shares": (1, 1, 2, 4)},
    "grouped": {"connectivity": "grouped", "conv_widths": (64, 128, 192, 192, 128), "fc_widths": (512,),
                "shares": None},
    # The triangular layout with the last group twice as wide (1/12, 1/12, 1/6, 2/3 of every layer): groups 1-3
    # are the triangular variant's exactly, so its finished stages 1-3 carry over (--from-stages) and only the
    # last group trains; it reads every group below it, so it adds the most capacity where the full network is.
    "triangular-wide": {"connectivity": "triangular", "conv_widths": (72, 144, 192, 192, 144), "fc_widths": (576,),
                        "shares": (1, 1, 2, 8)},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=sorted(VARIANTS), default="triangular")
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--data", default=fmnist.DEFAULT_DIR)
    p.add_argument("--out", default="", help="checkpoint directory (default models/training/group_cnn-<variant>)")
    p.add_argument("--stages-dir", default="", help="end-of-stage weights (default models/stages/group_cnn-<variant>)")
    p.add_argument("--epochs", type=int, nargs="+", default=[8, 10, 10, 12],
                   help="epochs per stage (the last value repeats for further stages)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--own-loss", type=float, default=1.0,
                   help="weight of the new group's own cross entropy beside the level's (0: the level's alone)")
    p.add_argument("--anneal-own-loss", action="store_true",
                   help="lower the own-loss weight linearly to 0 over each stage, so that the level's sum is fitted last")
    p.add_argument("--from-stages", default="",
                   help="start from the finished stages of another run (a stages directory) whose groups are "
                        "identical up to the last one finished there; later groups start fresh")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="the 2 cores are shared: one thread by default")
    p.add_argument("--save-every", type=float, default=120.0, help="seconds between checkpoints")
    p.add_argument("--log-every", type=int, default=50, help="batches between progress lines")
    p.add_argument("--subset", type=int, default=0, help="use only the first N training images (tests)")
    p.add_argument("--test-subset", type=int, default=0, help="evaluate on the first N test images (tests)")
    p.add_argument("--max-batches", type=int, default=0, help="stop this run after N batches (tests, timing)")
    args = p.parse_args(argv)
    args.out = args.out or f"models/training/group_cnn-{args.variant}"
    args.stages_dir = args.stages_dir or f"models/stages/group_cnn-{args.variant}"
    return args


def arch_for(args):
    v = VARIANTS[args.variant]
    shares = v["shares"] if v["shares"] and len(v["shares"]) == args.groups else None
    return GC.make_arch(args.groups, v["connectivity"], conv_widths=v["conv_widths"], fc_widths=v["fc_widths"],
                        shares=shares)


def stage_epochs(args, stage):
    return args.epochs[min(stage - 1, len(args.epochs) - 1)]


def make_optimizer(net, stage, args):
    """Only group `stage`'s parameters; no weight decay on BN affine parameters and biases."""
    decay, no_decay = [], []
    for p in net.group_parameters(stage - 1):
        (decay if p.dim() >= 2 else no_decay).append(p)
    return torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, momentum=0.9, nesterov=True)


@torch.no_grad()
def evaluate(net, g, test_x, test_y, batch_size=500):
    was = net.training
    net.eval()
    correct = 0
    for i, x in enumerate(fmnist.batches(test_x, 28, batch_size)):
        correct += int((net(x, g).argmax(1) == test_y[i * batch_size:(i + 1) * batch_size]).sum())
    net.train(was)
    return correct / len(test_x)


def load_progress(net, arch, args, ckpt_path):
    """(state, optimizer state or None): from last.pt if present, else from the last finished stage file."""
    fresh = {"stage": 1, "epoch": 0, "step_in_epoch": 0, "train_seconds": 0.0, "wall_seconds": 0.0, "history": []}
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        if ckpt["arch"] != arch or ckpt["args"]["seed"] != args.seed:
            raise SystemExit(f"{ckpt_path} belongs to another run (arch/seed differ); move it away first")
        net.load_state_dict(ckpt["model"])
        print(f"resumed from {ckpt_path}: stage {ckpt['state']['stage']}, epoch {ckpt['state']['epoch']}, "
              f"batch {ckpt['state']['step_in_epoch']}", flush=True)
        return ckpt["state"], ckpt["optimizer"]
    done = [g for g in range(1, args.groups + 1) if os.path.exists(os.path.join(args.stages_dir, f"stage{g}.pt"))]
    if done:
        last = max(done)
        saved = torch.load(os.path.join(args.stages_dir, f"stage{last}.pt"))
        if saved["arch"] != arch:
            raise SystemExit(f"{args.stages_dir}/stage{last}.pt was trained for another architecture")
        net.load_state_dict(saved["model"])
        state = dict(saved["state"], stage=last + 1, epoch=0, step_in_epoch=0)
        print(f"continuing after finished stage {last} ({args.stages_dir})", flush=True)
        return state, None
    if args.from_stages:
        return adopt_stages(net, arch, args.from_stages), None
    return fresh, None


def adopt_stages(net, arch, source):
    """Load groups 1..s of the last finished stage s in `source` into `net` (whose groups 1..s must be shaped
    exactly as there; the others keep their fresh initialisation) and continue at stage s+1 with its history."""
    done = [g for g in range(1, arch["groups"]) if os.path.exists(os.path.join(source, f"stage{g}.pt"))]
    if not done:
        raise SystemExit(f"--from-stages {source}: no stage<g>.pt for g < {arch['groups']} there")
    last = max(done)
    saved = torch.load(os.path.join(source, f"stage{last}.pt"))
    theirs = saved["arch"]
    same = {k: theirs[k] == arch[k] for k in ("connectivity", "in_channels", "n_classes", "resolution")}
    same["layers"] = len(theirs["layers"]) == len(arch["layers"]) and all(
        {**a, "widths": a["widths"][:last]} == {**b, "widths": b["widths"][:last]}
        for a, b in zip(theirs["layers"], arch["layers"]))
    if not all(same.values()):
        raise SystemExit(f"--from-stages {source}/stage{last}.pt: groups 1..{last} differ from this variant's "
                         f"({', '.join(k for k, v in same.items() if not v)})")
    group_of = lambda key: int(key.split(".")[2] if key.startswith("blocks.") else key.split(".")[1])  # noqa: E731
    adopted = {k: v for k, v in saved["model"].items() if group_of(k) < last}
    missing = [k for k, v in net.state_dict().items() if group_of(k) < last and k not in adopted]
    if missing:
        raise SystemExit(f"--from-stages {source}/stage{last}.pt lacks {missing[:3]}")
    net.load_state_dict(adopted, strict=False)
    print(f"adopted groups 1..{last} from {source}/stage{last}.pt; stage {last + 1} starts fresh", flush=True)
    return dict(saved["state"], stage=last + 1, epoch=0, step_in_epoch=0)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.stages_dir, exist_ok=True)
    ckpt_path = os.path.join(args.out, "last.pt")
    arch = arch_for(args)
    train_x, train_y = fmnist.load(args.data, "train")
    test_x, test_y = fmnist.load(args.data, "t10k")
    if args.subset:
        train_x, train_y = train_x[:args.subset], train_y[:args.subset]
    if args.test_subset:
        test_x, test_y = test_x[:args.test_subset], test_y[:args.test_subset]
    torch.manual_seed(args.seed)
    net = GC.GroupCNN(arch)
    state, opt_state = load_progress(net, arch, args, ckpt_path)
    steps_per_epoch = len(train_x) // args.batch_size  # drop the partial batch: BN needs full batches
    macs = [GC.cost(arch, {"g": g})[0] / 1e6 for g in range(1, args.groups + 1)]
    print(f"group_cnn {args.variant}, G={args.groups}, MMACs per level {[round(m, 2) for m in macs]}; "
          f"{steps_per_epoch} batches/epoch, epochs per stage "
          f"{[stage_epochs(args, g) for g in range(1, args.groups + 1)]}", flush=True)
    run_start, wall_before, run_batches = time.time(), state["wall_seconds"], 0
    while state["stage"] <= args.groups:
        stage = state["stage"]
        net.stage = stage
        net.train()
        opt = make_optimizer(net, stage, args)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
            opt_state = None
        epochs = stage_epochs(args, stage)
        total = epochs * steps_per_epoch
        last_save = time.time()

        def checkpoint():
            state["wall_seconds"] = wall_before + time.time() - run_start
            save(ckpt_path, {"model": net.state_dict(), "optimizer": opt.state_dict(), "state": state,
                             "args": vars(args), "arch": arch})

        while state["epoch"] < epochs:
            epoch = state["epoch"]
            order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(
                args.seed * 1_000_003 + stage * 1000 + epoch))
            while state["step_in_epoch"] < steps_per_epoch:
                i = state["step_in_epoch"]
                step = epoch * steps_per_epoch + i
                t0 = time.time()
                gen = torch.Generator().manual_seed(args.seed * 1_000_003 + stage * 100_000 + step)
                torch.manual_seed(args.seed * 1_000_003 + stage * 100_000 + step)  # dropout masks
                idx = order[i * args.batch_size:(i + 1) * args.batch_size]
                lr = lr_at(step, total, args)
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.zero_grad(set_to_none=True)
                x = fmnist.preprocess(fmnist.augment(train_x[idx], gen), 28)
                level, own = net.staged(x)
                loss = F.cross_entropy(level, train_y[idx], label_smoothing=args.label_smoothing)
                own_weight = args.own_loss * (1 - step / total if args.anneal_own_loss else 1)
                if stage > 1 and own_weight:
                    loss = loss + own_weight * F.cross_entropy(own, train_y[idx], label_smoothing=args.label_smoothing)
                loss.backward()
                opt.step()
                state["step_in_epoch"] += 1
                state["train_seconds"] += time.time() - t0
                run_batches += 1
                if run_batches % args.log_every == 0 or state["step_in_epoch"] == steps_per_epoch:
                    per_batch = (time.time() - run_start) / run_batches
                    print(f"stage {stage}/{args.groups} epoch {epoch + 1}/{epochs} batch {i + 1}/{steps_per_epoch} "
                          f"loss {float(loss):.3f} lr {lr:.4f} {per_batch:.2f} s/batch, stage ETA "
                          f"{fmt_time((total - step - 1) * per_batch)}", flush=True)
                if time.time() - last_save > args.save_every:
                    checkpoint()
                    last_save = time.time()
                if args.max_batches and run_batches >= args.max_batches:
                    checkpoint()
                    print(f"stopped after {run_batches} batches (--max-batches)", flush=True)
                    return state
            state["epoch"] += 1
            state["step_in_epoch"] = 0
            record = {"stage": stage, "epoch": state["epoch"], "train_seconds": round(state["train_seconds"], 1),
                      "level_top1": evaluate(net, stage, test_x, test_y)}
            state["history"].append(record)
            checkpoint()
            last_save = time.time()
            print("epoch done " + json.dumps(record), flush=True)
        levels = {g: evaluate(net, g, test_x, test_y) for g in range(1, stage + 1)}
        state["history"].append({"stage": stage, "end": True, "per_level_top1": levels,
                                 "train_seconds": round(state["train_seconds"], 1)})
        print(f"stage {stage} done: per-level top-1 " + ", ".join(f"g{g} {100 * a:.2f}%" for g, a in levels.items()),
              flush=True)
        state["wall_seconds"] = wall_before + time.time() - run_start
        save(os.path.join(args.stages_dir, f"stage{stage}.pt"),
             {"model": net.state_dict(), "arch": arch, "args": vars(args),
              "state": dict(state, stage=stage, epoch=0, step_in_epoch=0)})
        state.update(stage=stage + 1, epoch=0, step_in_epoch=0)
        checkpoint()
    with open(os.path.join(args.stages_dir, "history.json"), "w") as f:
        json.dump({"args": vars(args), "arch": arch, "history": state["history"],
                   "train_seconds": state["train_seconds"], "wall_seconds": state["wall_seconds"],
                   "finished_unix": time.time()}, f, indent=1)
    print(f"training complete: {fmt_time(state['wall_seconds'])} wall ({fmt_time(state['train_seconds'])} in "
          f"training steps)", flush=True)
    return state


if __name__ == "__main__":
    main()
