#!/usr/bin/python3
"""Train the Fashion-MNIST OFA-MobileNetV3 supernet (CPU, seeded, resumable).

Recipe (OFA adapted to a small budget): each step samples one resolution, trains the largest sub-network on the
labels (label-smoothed cross entropy), then the smallest and --n-random random sub-networks on the labels plus
the largest's soft predictions (in-place distillation); gradients of all of them are summed into one SGD
(Nesterov) step with a warm-up + cosine learning rate. Light augmentation: random crop with padding, flip.

Every random choice is a function of (seed, step), so a run resumed from models/training/last.pt continues
exactly as if it had not stopped. Run in the background:
  nohup /usr/bin/python3 tools/train_supernet.py --epochs 12 > models/training/train.log 2>&1 &
and fine-tune from it with a fresh schedule:
  nohup /usr/bin/python3 tools/train_supernet.py --init-from models/training/last.pt --out models/training/ft \\
      --epochs 10 --lr 0.04 --warmup-steps 100 --seed 1 > models/training/ft.log 2>&1 &
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import arch as A  # noqa: E402
from dyndnn_tools import fmnist, supernet  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=fmnist.DEFAULT_DIR)
    p.add_argument("--out", default="models/training", help="checkpoint directory (last.pt, history.json)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=300)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--kd-ratio", type=float, default=1.0, help="weight of the distillation loss for children")
    p.add_argument("--n-random", type=int, default=1, help="random sub-networks per step besides largest/smallest")
    p.add_argument("--resolutions", type=int, nargs="+", default=[24, 28, 32])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="the 2 cores are shared: one thread by default")
    p.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    p.add_argument("--log-every", type=int, default=20, help="batches between progress lines")
    p.add_argument("--subset", type=int, default=0, help="use only the first N training images (tests)")
    p.add_argument("--max-batches", type=int, default=0, help="stop this run after N batches (tests, timing)")
    p.add_argument("--no-eval", action="store_true", help="skip the end-of-epoch test evaluation")
    p.add_argument("--init-from", default="",
                   help="start from this run's weights (its last.pt) with a fresh optimizer and schedule: a "
                        "fine-tuning stage; ignored when --out already holds a checkpoint to resume")
    return p.parse_args(argv)


def lr_at(step, total, args):
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = (step - args.warmup_steps) / max(1, total - args.warmup_steps)
    return 0.5 * args.lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(net, args):
    # no weight decay on BN affine parameters, biases and kernel-transform matrices (OFA's no_decay_keys):
    # decaying the matrices would pull the smaller kernels away from their identity start towards zero
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if p.dim() < 4 and name != "classifier.weight" or name.endswith("_matrix") else decay).append(p)
    return torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, momentum=0.9, nesterov=True)


def soft_cross_entropy(logits, target_probs):
    return -(target_probs * F.log_softmax(logits, dim=1)).sum(1).mean()


def train_step(net, arch, x_aug, y, rng, args):
    """One sandwich step on augmented [B,1,28,28] images; returns the largest's loss."""
    r = rng.choice(args.resolutions)
    x = fmnist.preprocess(x_aug, r)
    net.set_active(net.largest_config(r))
    logits = net(x)
    loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
    loss.backward()
    teacher = F.softmax(logits.detach(), dim=1)
    children = [net.smallest_config(r)] + [A.random_config(arch, [r], rng) for _ in range(args.n_random)]
    for config in children:
        net.set_active(config)
        out = net(x)
        child = F.cross_entropy(out, y, label_smoothing=args.label_smoothing)
        (child + args.kd_ratio * soft_cross_entropy(out, teacher)).backward()
    return float(loss)


def save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill during the save leaves the previous checkpoint intact


def fmt_time(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def epoch_eval(net, calib_x, test_x, test_y, args):
    """Accuracy of the largest (max resolution) and smallest (min resolution) after BN recalibration."""
    out = {}
    for name, config in (("largest", net.largest_config(max(args.resolutions))),
                         ("smallest", net.smallest_config(min(args.resolutions)))):
        stats = fmnist.calibrate(net, config, calib_x)
        out[name] = fmnist.evaluate(net, config, stats, test_x, test_y)
    return out


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "last.pt")
    arch, input_spec = fmnist.arch_and_input(args.resolutions)
    train_x, train_y = fmnist.load(args.data, "train")
    if args.subset:
        train_x, train_y = train_x[:args.subset], train_y[:args.subset]
    torch.manual_seed(args.seed)
    net = supernet.Supernet(arch)
    net.train()
    opt = make_optimizer(net, args)
    steps_per_epoch = len(train_x) // args.batch_size  # drop the last partial batch: BN needs full batches
    total = steps_per_epoch * args.epochs
    state = {"epoch": 0, "step_in_epoch": 0, "train_seconds": 0.0, "history": [], "started": time.time(),
             "wall_seconds": 0.0}
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        if ckpt["args"]["seed"] != args.seed or ckpt["arch"] != arch:
            raise SystemExit(f"{ckpt_path} belongs to another run (seed/arch differ); move it away first")
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        print(f"resumed from {ckpt_path}: epoch {state['epoch']}, batch {state['step_in_epoch']}", flush=True)
    elif args.init_from:
        init = torch.load(args.init_from)
        if init["arch"] != arch:
            raise SystemExit(f"{args.init_from} was trained for another architecture; cannot fine-tune from it")
        net.load_state_dict(init["model"])
        # the earlier stage's time counts towards what the model cost to train
        state["init_from"] = {"path": args.init_from, "epochs": init["state"]["epoch"],
                              "wall_seconds": init["state"]["wall_seconds"],
                              "train_seconds": init["state"]["train_seconds"]}
        print(f"fine-tuning from {args.init_from} ({init['state']['epoch']} epochs)", flush=True)
    if state["epoch"] >= args.epochs:
        print("training already complete", flush=True)
        return state

    def checkpoint():
        # wall time of all runs so far (steps, evaluation, checkpointing; not the gaps between runs)
        state["wall_seconds"] = wall_before + time.time() - run_start
        save(ckpt_path, {"model": net.state_dict(), "optimizer": opt.state_dict(), "state": state,
                         "args": vars(args), "arch": arch, "input": input_spec})

    test = fmnist.load(args.data, "t10k") if not args.no_eval else None
    calib_x = fmnist.calibration_images(train_x, seed=args.seed)
    last_save = time.time()
    run_batches = 0
    run_start = time.time()
    wall_before = state["wall_seconds"]
    print(f"arch largest {A.cost(arch, A.normalise_config(arch, net.largest_config(max(args.resolutions))))[0] / 1e6:.2f}"
          f" MMACs; {steps_per_epoch} batches/epoch, {args.epochs} epochs, {torch.get_num_threads()} thread(s)",
          flush=True)
    while state["epoch"] < args.epochs:
        epoch = state["epoch"]
        order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
        while state["step_in_epoch"] < steps_per_epoch:
            i = state["step_in_epoch"]
            step = epoch * steps_per_epoch + i
            t0 = time.time()
            rng = random.Random(args.seed * 1_000_003 + step)
            gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            lr = lr_at(step, total, args)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss = train_step(net, arch, fmnist.augment(train_x[idx], gen), train_y[idx], rng, args)
            opt.step()
            state["step_in_epoch"] += 1
            state["train_seconds"] += time.time() - t0
            run_batches += 1
            if run_batches % args.log_every == 0 or state["step_in_epoch"] == steps_per_epoch:
                per_batch = (time.time() - run_start) / run_batches
                left = total - (step + 1)
                print(f"epoch {epoch + 1}/{args.epochs} batch {i + 1}/{steps_per_epoch} loss {loss:.3f} "
                      f"lr {lr:.4f} {per_batch:.2f} s/batch ETA {fmt_time(left * per_batch)}", flush=True)
            if time.time() - last_save > args.save_every:
                checkpoint()
                last_save = time.time()
            if args.max_batches and run_batches >= args.max_batches:
                checkpoint()
                print(f"stopped after {run_batches} batches (--max-batches)", flush=True)
                return state
        record = {"epoch": epoch + 1, "train_seconds": round(state["train_seconds"], 1)}
        if test is not None:
            record.update(epoch_eval(net, calib_x, test[0], test[1], args))
        state["history"].append(record)
        state["epoch"] += 1
        state["step_in_epoch"] = 0
        checkpoint()
        last_save = time.time()
        print("epoch done " + json.dumps(record), flush=True)
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump({"args": vars(args), "init_from": state.get("init_from"), "history": state["history"],
                   "train_seconds": state["train_seconds"],
                   "wall_seconds": state["wall_seconds"], "started_unix": state["started"],
                   "finished_unix": time.time()}, f, indent=1)
    print(f"training complete: {fmt_time(state['wall_seconds'])} wall ({fmt_time(state['train_seconds'])} in "
          f"training steps)", flush=True)
    return state


if __name__ == "__main__":
    main()
