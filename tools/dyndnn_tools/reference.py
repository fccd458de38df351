"""Slow, obviously-right forward of an elastic OFA-MobileNetV3 sub-network with plain torch.nn.functional.

It works on the supernet's shared weights (name -> tensor, see arch.tensor_shapes) and applies OFA's elastic
rules at every call: kernel centre crop + transform matrices, channel prefixes, block prefixes per stage,
per-subnet batch-norm statistics. Used as the ground truth that the C++ library is tested against.
"""
import math

import torch
import torch.nn.functional as F

from . import arch as A


def h_swish(x):
    return x * F.relu6(x + 3.0) / 6.0


def h_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


def activation(x, name):
    if name == "relu":
        return F.relu(x)
    if name == "h_swish":
        return h_swish(x)
    raise ValueError(f"unknown activation {name!r}")


def active_kernel(weights, prefix, arch, channels, kernel):
    """Depthwise kernel of size `kernel` for the first `channels` channels (OFA's chained 7->5->3 rule)."""
    full = weights[f"{prefix}.depth_conv.weight"][:channels]
    for src, dst in A.transform_pairs(arch):
        if src <= kernel:
            break
        start = (src - dst) // 2
        crop = full[:, :, start:start + dst, start:start + dst].reshape(channels, dst * dst)
        full = F.linear(crop, weights[f"{prefix}.depth_conv.{src}to{dst}_matrix"]).reshape(channels, 1, dst, dst)
    return full


class BatchNorm:
    """Eval-mode BN with optional per-subnet statistics, or calibration mode that records batch statistics."""

    def __init__(self, weights, eps, stats=None, calibrate=False):
        self.weights, self.eps, self.stats, self.calibrate = weights, eps, stats or {}, calibrate
        self.recorded = {}

    def __call__(self, x, name):
        c = x.shape[1]
        w, b = self.weights[f"{name}.bn.weight"][:c], self.weights[f"{name}.bn.bias"][:c]
        if self.calibrate:
            mean = x.mean(dim=(0, 2, 3))
            var = ((x - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))
            self.recorded[name] = (mean.detach().clone(), var.detach().clone())
        elif name in self.stats:
            mean, var = self.stats[name]
        else:
            mean = self.weights[f"{name}.bn.running_mean"][:c]
            var = self.weights[f"{name}.bn.running_var"][:c]
        return F.batch_norm(x, mean, var, w, b, training=False, eps=self.eps)


def forward(weights, arch, config, x, bn_stats=None, calibrate=False):
    """Logits of sub-network `config` for NCHW input `x` already at the config's resolution.

    bn_stats: optional {bn layer name: (mean, var)} for this sub-network. With calibrate=True every BN
    normalises with its batch statistics and the returned BatchNorm records them (OFA's recalibration).
    Returns (logits, bn) so callers can read bn.recorded.
    """
    config = A.normalise_config(arch, config)
    bn = BatchNorm(weights, arch["bn_eps"], bn_stats, calibrate)
    W = weights
    stem = arch["stem"]
    x = F.conv2d(x, W["first_conv.weight"], stride=stem["stride"], padding=1)
    x = activation(bn(x, "first_conv"), stem["act"])
    # first block: depthwise 3x3 + BN + act, point-linear + BN, identity shortcut when widths match
    y = F.conv2d(x, W["blocks.0.depth_conv.weight"], padding=1, groups=x.shape[1])
    y = activation(bn(y, "blocks.0.depth_conv"), arch["first_block"]["act"])
    y = bn(F.conv2d(y, W["blocks.0.point_linear.weight"]), "blocks.0.point_linear")
    x = x + y if stem["width"] == arch["first_block"]["width"] else y
    for i, b, k, e in A.active_blocks(arch, config):
        p = f"blocks.{i}"
        mid = A.mid_channels(b["in"], e)
        y = F.conv2d(x, W[f"{p}.inverted_bottleneck.weight"][:mid, :b["in"]])
        y = activation(bn(y, f"{p}.inverted_bottleneck"), b["act"])
        y = F.conv2d(y, active_kernel(W, p, arch, mid, k), stride=b["stride"], padding=k // 2, groups=mid)
        y = activation(bn(y, f"{p}.depth_conv"), b["act"])
        if b["se"]:
            se = A.se_channels(mid)
            s = y.mean(dim=(2, 3), keepdim=True)
            s = F.relu(F.conv2d(s, W[f"{p}.se.reduce.weight"][:se, :mid], W[f"{p}.se.reduce.bias"][:se]))
            s = h_sigmoid(F.conv2d(s, W[f"{p}.se.expand.weight"][:mid, :se], W[f"{p}.se.expand.bias"][:mid]))
            y = y * s
        y = bn(F.conv2d(y, W[f"{p}.point_linear.weight"][:, :mid]), f"{p}.point_linear")
        x = x + y if b["residual"] else y
    x = h_swish(bn(F.conv2d(x, W["final_expand_layer.weight"]), "final_expand_layer"))
    x = x.mean(dim=(2, 3), keepdim=True)
    x = h_swish(F.conv2d(x, W["feature_mix_layer.weight"]))
    x = F.linear(x.flatten(1), W["classifier.weight"], W["classifier.bias"])
    return x, bn


def preprocess_float(x, resolution):
    """NCHW float input of any spatial size -> the sub-network's resolution (bilinear, no antialias)."""
    if x.shape[-2:] == (resolution, resolution):
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


def preprocess_image(image_hwc_uint8, input_spec, resolution):
    """uint8 HWC image -> normalised 1xCxRxR: resize the shorter side to ceil(R / crop_ratio) (antialiased
    bilinear), centre crop R, scale to [0, 1], subtract mean, divide by std."""
    img = torch.as_tensor(image_hwc_uint8)
    if img.dim() == 2:
        img = img.unsqueeze(-1)
    x = img.permute(2, 0, 1).unsqueeze(0).float() / 255.0
    h, w = x.shape[-2:]
    short = math.ceil(resolution / input_spec.get("crop_ratio", 1.0))
    if h <= w:
        size = (short, max(short, w * short // h))
    else:
        size = (max(short, h * short // w), short)
    if (h, w) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    x = x[:, :, top:top + resolution, left:left + resolution]
    mean = torch.tensor(input_spec["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(input_spec["std"]).view(1, -1, 1, 1)
    return (x - mean) / std
