"""Checkpoints with the exact key layout of the published OFA MobileNetV3 supernets, filled with random values.

The published files (`ofa_mbv3_d234_e346_k357_w1.0` / `_w1.2`) are `torch.save({'state_dict': ...})` of OFA's
dynamic supernet. Their keys are spelled out here module by module, following OFA's module tree (see the
project's reference notes, section 1), and deliberately NOT derived from tools/dyndnn_tools/ofa_convert.py's
mapping: the converter's tests check one statement of the layout against the other.

Namings:
- "current": OFA's current code, `blocks.<i>.conv.<layer>...`
- "legacy": the published checkpoints, `blocks.<i>.mobile_inverted_conv.<layer>...`
- "aliased": legacy block naming with the spellings OFA's own loader also accepts (`bn.` for `bn.bn.`,
  `conv.weight` for `conv.conv.weight`, `linear.linear.` for `linear.`)

Every batch norm carries `num_batches_tracked` (int64 scalar); each elastic depthwise conv carries its
`5to3_matrix` and `7to5_matrix` before its weight, as OFA's state_dict orders them.
"""
import collections

import torch

from . import arch as A
from . import random_package

NAMINGS = ("current", "legacy", "aliased")
BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def layout(arch, naming="current"):
    """[(checkpoint key, dyndnn tensor name, or None for num_batches_tracked)] in OFA's state_dict order."""
    if naming not in NAMINGS:
        raise ValueError(f"naming {naming!r}: one of {NAMINGS}")
    body = "conv" if naming == "current" else "mobile_inverted_conv"
    doubled = naming != "aliased"  # the dynamic layers wrap an nn.Conv2d / nn.BatchNorm2d as `.conv` / `.bn`
    out = []

    def batch_norm(module, ours, dynamic):
        p = f"{module}.bn.bn" if dynamic and doubled else f"{module}.bn"
        out.extend((f"{p}.{f}", f"{ours}.bn.{f}") for f in BN_FIELDS)
        out.append((f"{p}.num_batches_tracked", None))

    def conv(module, ours, dynamic):
        out.append((f"{module}.conv.conv.weight" if dynamic and doubled else f"{module}.conv.weight",
                    f"{ours}.weight"))

    # first_conv: ConvLayer(conv, bn, act)
    conv("first_conv", "first_conv", False)
    batch_norm("first_conv", "first_conv", False)
    # blocks.0: ResidualBlock(MBConvLayer(expand 1), IdentityLayer) -- static layers
    b0 = f"blocks.0.{body}"
    conv(f"{b0}.depth_conv", "blocks.0.depth_conv", False)
    batch_norm(f"{b0}.depth_conv", "blocks.0.depth_conv", False)
    conv(f"{b0}.point_linear", "blocks.0.point_linear", False)
    batch_norm(f"{b0}.point_linear", "blocks.0.point_linear", False)
    # blocks.1..: ResidualBlock(DynamicMBConvLayer, IdentityLayer or None)
    ks = sorted(arch["ks_list"])
    for i, geometry in enumerate(A.blocks(arch), start=1):
        m, ours = f"blocks.{i}.{body}", f"blocks.{i}"
        conv(f"{m}.inverted_bottleneck", f"{ours}.inverted_bottleneck", True)
        batch_norm(f"{m}.inverted_bottleneck", f"{ours}.inverted_bottleneck", True)
        # DynamicSeparableConv2d registers its transform matrices (small to large) before its nn.Conv2d
        for small, large in zip(ks[:-1], ks[1:]):
            out.append((f"{m}.depth_conv.conv.{large}to{small}_matrix", f"{ours}.depth_conv.{large}to{small}_matrix"))
        conv(f"{m}.depth_conv", f"{ours}.depth_conv", True)
        batch_norm(f"{m}.depth_conv", f"{ours}.depth_conv", True)
        if geometry["se"]:
            for fc in ("reduce", "expand"):
                for f in ("weight", "bias"):
                    out.append((f"{m}.depth_conv.se.fc.{fc}.{f}", f"{ours}.se.{fc}.{f}"))
        conv(f"{m}.point_linear", f"{ours}.point_linear", True)
        batch_norm(f"{m}.point_linear", f"{ours}.point_linear", True)
    conv("final_expand_layer", "final_expand_layer", False)
    batch_norm("final_expand_layer", "final_expand_layer", False)
    conv("feature_mix_layer", "feature_mix_layer", False)  # no BN
    linear = "classifier.linear.linear" if naming == "aliased" else "classifier.linear"
    out.append((f"{linear}.weight", "classifier.weight"))
    out.append((f"{linear}.bias", "classifier.bias"))
    return out


def largest_config(arch, resolution):
    return A.normalise_config(arch, {"ks": max(arch["ks_list"]), "e": max(arch["expand_ratio_list"]),
                                     "d": max(arch["depth_list"]), "r": resolution})


def random_weights(arch, seed, calibrate_for="largest", batch=8):
    """dyndnn-named random weights; the supernet BN statistics are calibrated on random input for the config
    `calibrate_for` ("largest": the largest sub-network at 160 pixels; None: left at mean 0 / var 1, which
    washes the input out, see the reference notes)."""
    gen = torch.Generator().manual_seed(seed)
    weights = random_package.random_weights(arch, gen)
    if calibrate_for == "largest":
        calibrate_for = largest_config(arch, 160)
    if calibrate_for is not None:
        for layer, (mean, var) in random_package.calibrate(weights, arch, calibrate_for, gen, batch).items():
            weights[f"{layer}.bn.running_mean"][:mean.shape[0]] = mean
            weights[f"{layer}.bn.running_var"][:var.shape[0]] = var
    return weights


def state_dict(arch, weights, naming="current", seed=0):
    """The checkpoint's state dict (an OrderedDict like Module.state_dict()) holding `weights` under OFA's keys."""
    gen = torch.Generator().manual_seed(seed + 7)
    out = collections.OrderedDict()
    for key, ours in layout(arch, naming):
        if ours is None:
            out[key] = torch.randint(1, 10 ** 6, (), generator=gen, dtype=torch.int64)
        else:
            out[key] = weights[ours].detach().clone().float().contiguous()
    return out


def random_checkpoint(width_mult=1.0, n_classes=1000, seed=0, naming="legacy", calibrate_for="largest",
                      wrapped=True):
    """(checkpoint object as torch.save would store it, arch, dyndnn-named weights it was made from).

    wrapped=True gives {'state_dict': ...} as published; False a bare state dict."""
    arch = A.ofa_mbv3(width_mult, n_classes=n_classes)
    weights = random_weights(arch, seed, calibrate_for)
    sd = state_dict(arch, weights, naming, seed)
    return ({"state_dict": sd} if wrapped else sd), arch, weights


def write(path, width_mult=1.0, n_classes=1000, seed=0, naming="legacy", calibrate_for="largest", wrapped=True):
    """torch.save a random checkpoint to `path`; returns (arch, weights)."""
    obj, arch, weights = random_checkpoint(width_mult, n_classes, seed, naming, calibrate_for, wrapped)
    torch.save(obj, path)
    return arch, weights
