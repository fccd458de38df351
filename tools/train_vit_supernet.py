#!/usr/bin/python3
"""Train the Fashion-MNIST elastic ViT supernet (CPU, seeded, resumable in stages, progress shown).

Recipe: the sandwich rule with in-place distillation, as the OFA model was trained here. Every step trains, on one
augmented batch, the largest sub-network (label-smoothed cross entropy), the smallest and --n-random random ones
(cross entropy + soft cross entropy against the largest's predictions); their gradients make one AdamW step
(ViTs train poorly with SGD from scratch), clipped to norm 1, with a warm-up + cosine learning rate over all
epochs. The distillation weight ramps up over the first epochs: a teacher that is still guessing slows the
children down (measured, 150 steps from scratch, largest on 2,000 test images: 42.2% with distillation from the
start at lr 1e-3, 50.0% without it, 45.5% with it at lr 2e-3; a first run of this recipe with distillation from
the start and lr 1e-3 reached only 69.6% after 2 epochs and was stopped). Weight decay 0.05 on the weight matrices only (none on biases, layer norms, the positional embedding).
Augmentation: random crop with 2 pixels of zero padding and horizontal flip (fmnist.augment).

The space (tools/dyndnn_tools/elastic_vit.py: make_arch), chosen for 28x28 grey images and 2 shared CPU cores:
4x4 patches give 49 tokens (7x7 patches would give 16, too coarse for the classes that differ in detail: shirt,
T-shirt, pullover, coat); width {64, 96, 128}, depth 2..6, heads 1..4 of 32, MLP {64..256}. The largest is 42 MMACs
(about 1.5 s per sandwich step on one thread with OpenBLAS), the smallest 2 MMACs (1/21). Input resolution is not
elastic: at 24x24 the same patches leave 36 tokens of a shrunken image, and the interpolated positional embedding
would be a second thing to train within the same budget; depth, heads, MLP and width already span 21x in MACs.

Resuming: <out>/last.pt (every --save-every seconds) is the exact state, optimizer included. At the end of every
--stage-epochs epochs the weights alone go to <stages-dir>/stage.pt (3 MB, meant to be committed): a run on a
machine without last.pt continues from there with a fresh optimizer, re-warmed over --rewarm-steps. `kill -USR1
PID` writes stage.pt at once, mid-epoch (before a working session ends). Every random choice is a function of
(seed, step). Run in the background, with the fast BLAS:
  nohup tools/with_openblas.sh /usr/bin/python3 tools/train_vit_supernet.py > models/training/vit.log 2>&1 &
"""
import argparse
import json
import os
import random
import signal
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dyndnn_tools import elastic_vit as V  # noqa: E402
from dyndnn_tools import fmnist  # noqa: E402
from train_supernet import fmt_time, lr_at, save, soft_cross_entropy  # noqa: E402


SPACES = {"fmnist": V.make_arch,
          "test": lambda: V.make_arch(widths=(16, 24), depths=(1, 2), heads=(1, 2), head_dim=8, mlp_widths=(16, 32))}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=fmnist.DEFAULT_DIR)
    p.add_argument("--out", default="models/training/elastic_vit", help="exact checkpoint (last.pt)")
    p.add_argument("--stages-dir", default="models/stages/elastic_vit", help="end-of-stage weights (stage.pt)")
    p.add_argument("--space", choices=sorted(SPACES), default="fmnist",
                   help="the search space: the shipped one, or a tiny one that trains in seconds (tests)")
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--stage-epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-steps", type=int, default=500)
    p.add_argument("--rewarm-steps", type=int, default=100)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--kd-ratio", type=float, default=1.0)
    p.add_argument("--kd-warmup-epochs", type=float, default=4.0,
                   help="the distillation weight ramps from 0 to --kd-ratio over this many epochs")
    p.add_argument("--n-random", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="the 2 cores are shared: one thread by default")
    p.add_argument("--save-every", type=float, default=180.0, help="seconds between checkpoints")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--subset", type=int, default=0, help="use only the first N training images (tests)")
    p.add_argument("--test-subset", type=int, default=0, help="evaluate on the first N test images (tests)")
    p.add_argument("--max-batches", type=int, default=0, help="stop this run after N batches (tests, timing)")
    return p.parse_args(argv)


def blas_gflops():
    """Throughput of the BLAS PyTorch calls for linear layers (a warning sign when it is the reference one)."""
    a, b = torch.randn(1024, 256), torch.randn(256, 256)
    a @ b
    t = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 1024 * 256 * 256 / (time.perf_counter() - t) / 1e9


def make_optimizer(net, args):
    decay = [p for name, p in net.params.items() if p.dim() == 2 and name != "pos"]
    rest = [p for name, p in net.params.items() if not (p.dim() == 2 and name != "pos")]
    # the patch convolution's 4-D weight decays too: it is a weight matrix in another shape
    decay += [p for p in rest if p.dim() == 4]
    rest = [p for p in rest if p.dim() != 4]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999))


def train_step(net, arch, x, y, rng, args, kd_ratio):
    """One sandwich step on a preprocessed batch; returns the largest's loss."""
    net.set_active(V.largest_config(arch))
    logits = net(x)
    loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
    loss.backward()
    teacher = F.softmax(logits.detach(), dim=1)
    for config in [V.smallest_config(arch)] + [V.random_config(arch, rng) for _ in range(args.n_random)]:
        net.set_active(config)
        out = net(x)
        child = F.cross_entropy(out, y, label_smoothing=args.label_smoothing)
        (child + kd_ratio * soft_cross_entropy(out, teacher)).backward()
    return float(loss)


@torch.no_grad()
def accuracy(net, config, test_x, test_y, batch_size=500):
    was_training = net.training
    net.eval()
    net.set_active(config)
    correct = 0
    for i, x in enumerate(fmnist.batches(test_x, net.arch["resolution"], batch_size)):
        correct += int((net(x).argmax(1) == test_y[i * batch_size:(i + 1) * batch_size]).sum())
    net.train(was_training)
    return correct / len(test_x)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.stages_dir, exist_ok=True)
    ckpt_path = os.path.join(args.out, "last.pt")
    stage_path = os.path.join(args.stages_dir, "stage.pt")
    arch = SPACES[args.space]()
    train_x, train_y = fmnist.load(args.data, "train")
    if args.subset:
        train_x, train_y = train_x[:args.subset], train_y[:args.subset]
    torch.manual_seed(args.seed)
    net = V.ElasticViT(arch, torch.Generator().manual_seed(args.seed))
    net.train()
    opt = make_optimizer(net, args)
    steps_per_epoch = len(train_x) // args.batch_size
    total = steps_per_epoch * args.epochs
    state = {"epoch": 0, "step_in_epoch": 0, "train_seconds": 0.0, "wall_seconds": 0.0, "history": [],
             "started": time.time(), "rewarm_from": -1, "runs": []}

    def check_same_run(saved, path):
        if saved["args"]["seed"] != args.seed or saved["arch"] != arch or saved["args"]["epochs"] != args.epochs:
            raise SystemExit(f"{path} belongs to another run (seed, arch or epochs differ); move it away first")

    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        check_same_run(ckpt, ckpt_path)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        print(f"resumed from {ckpt_path}: epoch {state['epoch']}, batch {state['step_in_epoch']}", flush=True)
    elif os.path.exists(stage_path):
        stage = torch.load(stage_path)
        check_same_run(stage, stage_path)
        net.load_state_dict(stage["model"])
        state = stage["state"]
        # fresh AdamW moments: ramp the rate up again
        state["rewarm_from"] = state["epoch"] * steps_per_epoch + state["step_in_epoch"]
        print(f"resumed from {stage_path} (weights at epoch {state['epoch']}, batch {state['step_in_epoch']}; fresh "
              f"optimizer)", flush=True)
    if state["epoch"] >= args.epochs:
        print("training already complete", flush=True)
        return state
    state["runs"].append({"start_epoch": state["epoch"], "start_batch": state["step_in_epoch"],
                          "started": time.time()})

    run_start, wall_before = time.time(), state["wall_seconds"]

    def checkpoint():
        state["wall_seconds"] = wall_before + time.time() - run_start
        save(ckpt_path, {"model": net.state_dict(), "optimizer": opt.state_dict(), "state": state,
                         "args": vars(args), "arch": arch})

    def save_stage():
        save(stage_path, {"model": {k: v.detach().clone() for k, v in net.state_dict().items()},
                          "state": state, "args": vars(args), "arch": arch})
        print(f"stage weights at epoch {state['epoch']}, batch {state['step_in_epoch']} -> {stage_path}", flush=True)

    stage_now = []  # SIGUSR1: write the stage weights at the end of the current step
    signal.signal(signal.SIGUSR1, lambda *_: stage_now.append(True))

    test_x, test_y = fmnist.load(args.data, "t10k")
    if args.test_subset:
        test_x, test_y = test_x[:args.test_subset], test_y[:args.test_subset]
    print(f"elastic_vit: largest {V.cost(arch, V.largest_config(arch))[0] / 1e6:.1f} MMACs, smallest "
          f"{V.cost(arch, V.smallest_config(arch))[0] / 1e6:.1f}; {steps_per_epoch} batches/epoch, {args.epochs} "
          f"epochs, {torch.get_num_threads()} thread(s), BLAS {blas_gflops():.1f} GFLOP/s", flush=True)
    last_save, run_batches = time.time(), 0
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
            if state["rewarm_from"] >= 0 and step - state["rewarm_from"] < args.rewarm_steps:
                lr *= (step - state["rewarm_from"] + 1) / args.rewarm_steps
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            x = fmnist.preprocess(fmnist.augment(train_x[idx], gen), arch["resolution"])
            kd = args.kd_ratio * min(1.0, step / max(1.0, args.kd_warmup_epochs * steps_per_epoch))
            loss = train_step(net, arch, x, train_y[idx], rng, args, kd)
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            state["step_in_epoch"] += 1
            state["train_seconds"] += time.time() - t0
            run_batches += 1
            if run_batches % args.log_every == 0 or state["step_in_epoch"] == steps_per_epoch:
                per_batch = (time.time() - run_start) / run_batches
                print(f"epoch {epoch + 1}/{args.epochs} batch {i + 1}/{steps_per_epoch} loss {loss:.3f} "
                      f"lr {lr:.2e} {per_batch:.2f} s/batch ETA {fmt_time((total - step - 1) * per_batch)}",
                      flush=True)
            if time.time() - last_save > args.save_every or stage_now:
                checkpoint()
                last_save = time.time()
            if stage_now:
                stage_now.clear()
                save_stage()
            if args.max_batches and run_batches >= args.max_batches:
                checkpoint()
                print(f"stopped after {run_batches} batches (--max-batches)", flush=True)
                return state
        record = {"epoch": epoch + 1, "train_seconds": round(state["train_seconds"], 1),
                  "largest": accuracy(net, V.largest_config(arch), test_x, test_y),
                  "smallest": accuracy(net, V.smallest_config(arch), test_x, test_y)}
        state["history"].append(record)
        state["epoch"] += 1
        state["step_in_epoch"] = 0
        checkpoint()
        last_save = time.time()
        print("epoch done " + json.dumps(record), flush=True)
        if state["epoch"] % args.stage_epochs == 0 or state["epoch"] == args.epochs:
            save_stage()
    with open(os.path.join(args.stages_dir, "history.json"), "w") as f:
        json.dump({"args": vars(args), "history": state["history"], "runs": state["runs"],
                   "train_seconds": state["train_seconds"], "wall_seconds": state["wall_seconds"],
                   "started_unix": state["started"], "finished_unix": time.time()}, f, indent=1)
    print(f"training complete: {fmt_time(state['wall_seconds'])} wall ({fmt_time(state['train_seconds'])} in "
          f"training steps)", flush=True)
    return state


if __name__ == "__main__":
    main()
