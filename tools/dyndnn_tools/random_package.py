"""Packages with random weights (for tests and benchmarks) and reference outputs computed by reference.py.

Random networks wash their input out unless every BN's statistics match its activations, so the supernet's
own statistics are calibrated on the largest sub-network and each operating point gets statistics calibrated
on random input for its own sub-network (as OFA's BN recalibration does).
"""
import random

import numpy as np
import torch

from . import arch as A
from . import package, reference

ARCHS = {
    "ofa_w1.0": lambda: (A.ofa_mbv3(1.0), A.imagenet_input(width_mult=1.0)),
    "ofa_w1.2": lambda: (A.ofa_mbv3(1.2), A.imagenet_input(width_mult=1.2)),
    # 1-channel 28x28 (Fashion-MNIST class): narrow widths, fewer stride-2 steps, upsampled to 32..40
    "fmnist": lambda: (A.ofa_mbv3(1.0, n_classes=10, in_channels=1,
                                  base_widths=[16, 16, 24, 32, 48, 64, 96, 384, 512],
                                  strides=[1, 2, 2, 1, 2], stem_stride=1),
                       {"channels": 1, "mean": [0.286], "std": [0.353], "resolutions": [28, 32, 36, 40],
                        "crop_ratio": 1.0}),
    # a few kilobytes: seeds for fuzzing the package reader
    "tiny": lambda: (A.ofa_mbv3(1.0, n_classes=3, in_channels=1, ks_list=(3, 5), expand_ratio_list=(1, 2),
                                depth_list=(1, 2), base_widths=[8, 8, 8, 8, 8, 8, 8, 16, 16],
                                strides=[1, 2, 1, 1, 2], stem_stride=2),
                     {"channels": 1, "mean": [0.5], "std": [0.25], "resolutions": [8, 12], "crop_ratio": 1.0}),
}


def random_weights(arch, generator):
    """Kaiming-scaled convolutions, non-identity kernel transforms, non-trivial BN affine parameters."""
    out = {}
    for name, shape in A.tensor_shapes(arch).items():
        if name.endswith("_matrix"):
            n = shape[0]
            t = torch.eye(n) + 0.3 * torch.randn(n, n, generator=generator) / n ** 0.5
        elif name.endswith("bn.weight"):
            t = 0.5 + torch.rand(shape, generator=generator)
        elif name.endswith("bn.bias") or name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=generator)
        elif name.endswith("running_mean"):
            t = torch.zeros(shape)
        elif name.endswith("running_var"):
            t = torch.ones(shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            t = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        out[name] = t.float()
    return out


def calibrate(weights, arch, config, generator, batch=8):
    """BN statistics of `config` measured on random input (mean and biased variance of one batch)."""
    r = config["r"]
    x = torch.randn(batch, arch["in_channels"], r, r, generator=generator)
    with torch.no_grad():
        _, bn = reference.forward(weights, arch, config, x, calibrate=True)
    return bn.recorded


def make(arch_name, n_ops, seed, ops_with_supernet_bn=0):
    """Return (arch, input_spec, weights, operating_points) with calibrated statistics."""
    arch, input_spec = ARCHS[arch_name]()
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    weights = random_weights(arch, gen)
    largest = {"ks": max(arch["ks_list"]), "e": max(arch["expand_ratio_list"]),
               "d": max(arch["depth_list"]), "r": max(input_spec["resolutions"])}
    for layer, (mean, var) in calibrate(weights, arch, largest, gen).items():
        c = mean.shape[0]
        weights[f"{layer}.bn.running_mean"][:c] = mean
        weights[f"{layer}.bn.running_var"][:c] = var
    ops = []
    for i in range(n_ops):
        config = A.normalise_config(arch, A.random_config(arch, input_spec["resolutions"], rng))
        op = {"name": f"random{i}", "config": config}
        if i >= ops_with_supernet_bn:
            op["bn_stats"] = calibrate(weights, arch, config, gen)
        ops.append(op)
    return arch, input_spec, weights, ops


def reference_outputs(arch, input_spec, weights, ops, seed):
    """Inputs and reference logits for every operating point: 'a' at the resolution, 'b' at another size
    (exercises resizing), 'img' a uint8 HWC image (exercises image preprocessing)."""
    gen = torch.Generator().manual_seed(seed + 1)
    out = {}
    with torch.no_grad():
        for i, op in enumerate(ops):
            r, c = op["config"]["r"], arch["in_channels"]
            stats = op.get("bn_stats")
            a = torch.randn(1, c, r, r, generator=gen)
            b = torch.randn(1, c, r + 13, r - 7, generator=gen)
            img = torch.randint(0, 256, (r + 21, r + 40, c), generator=gen, dtype=torch.uint8)
            out[f"op.{i}.input_a"] = a
            out[f"op.{i}.input_b"] = b
            out[f"op.{i}.image"] = img
            out[f"op.{i}.logits_a"] = reference.forward(weights, arch, op["config"], a, stats)[0]
            out[f"op.{i}.logits_b"] = reference.forward(
                weights, arch, op["config"], reference.preprocess_float(b, r), stats)[0]
            out[f"op.{i}.logits_img"] = reference.forward(
                weights, arch, op["config"], reference.preprocess_image(img, input_spec, r), stats)[0]
    return {k: v.numpy() for k, v in out.items()}


def write(path, arch_name, n_ops, seed, refs_path=None, ops_with_supernet_bn=0):
    arch, input_spec, weights, ops = make(arch_name, n_ops, seed, ops_with_supernet_bn)
    package.write(path, arch, {k: v.numpy() for k, v in weights.items()}, input_spec,
                  [{**op, "bn_stats": {k: (m.numpy(), v.numpy()) for k, (m, v) in op["bn_stats"].items()}}
                   if "bn_stats" in op else op for op in ops],
                  extra_metadata={"note": f"random weights ({arch_name}, seed {seed}); for tests and benchmarks"})
    if refs_path:
        from . import safetensors_io
        safetensors_io.write(refs_path, reference_outputs(arch, input_spec, weights, ops, seed))
