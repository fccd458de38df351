"""Trainable elastic OFA-MobileNetV3 supernet (torch.nn.Module).

Its parameters and buffers carry exactly the names and shapes of arch.tensor_shapes(arch), so
`package.write(path, arch, net.weights(), ...)` takes its state directly. The forward applies the same elastic rules
as reference.forward (kernel centre crop + chained transform matrices, channel prefixes, block prefixes per
stage); reference.py stays the ground truth and tests/python/test_supernet.py checks the two agree.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import arch as A
from .reference import activation, h_sigmoid, h_swish


class DynamicBN(nn.Module):
    """BN over the first C channels of the max-width statistics.

    Train mode normalises with batch statistics over the active channels only and updates the slices of the
    running statistics in place (F.batch_norm writes through the views), as OFA's DynamicBatchNorm2d does.
    `record` (set by calibration) collects each batch's mean/biased variance, OFA's set_running_statistics.
    No num_batches_tracked buffer: the package layout has none and momentum is fixed.
    """

    def __init__(self, channels, eps, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.record = None  # list to append (mean, var) of each batch to, or None

    def forward(self, x):
        c = x.shape[1]
        if self.record is not None:
            mean = x.mean(dim=(0, 2, 3))
            var = ((x - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))
            self.record.append((mean.detach(), var.detach()))
            return F.batch_norm(x, mean, var, self.weight[:c], self.bias[:c], training=False, eps=self.eps)
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                            training=self.training, momentum=self.momentum, eps=self.eps)


class ConvBN(nn.Module):
    """A conv weight (sliced by the caller) with an optional BN: names `<layer>.weight`, `<layer>.bn.*`."""

    def __init__(self, shape, eps=None):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape))
        if eps is not None:
            self.bn = DynamicBN(shape[0], eps)


class DepthConv(ConvBN):
    """Depthwise kxk weight at the max kernel plus one transform matrix per step down the kernel list."""

    def __init__(self, channels, arch):
        kmax = max(arch["ks_list"])
        super().__init__([channels, 1, kmax, kmax], arch["bn_eps"])
        self.pairs = A.transform_pairs(arch)
        for src, dst in self.pairs:
            # identity start: a smaller kernel begins as the plain centre crop (OFA's KERNEL_TRANSFORM_MODE 1)
            self.register_parameter(f"{src}to{dst}_matrix", nn.Parameter(torch.eye(dst * dst)))

    def kernel(self, channels, k):
        """Same chained rule as reference.active_kernel, differentiable in the weight and the matrices."""
        w = self.weight[:channels]
        for src, dst in self.pairs:
            if src <= k:
                break
            start = (src - dst) // 2
            crop = w[:, :, start:start + dst, start:start + dst].reshape(channels, dst * dst)
            w = F.linear(crop, getattr(self, f"{src}to{dst}_matrix")).reshape(channels, 1, dst, dst)
        return w


class SE(nn.Module):
    def __init__(self, mid):
        super().__init__()
        se = A.se_channels(mid)
        self.reduce = nn.Conv2d(mid, se, 1)
        self.expand = nn.Conv2d(se, mid, 1)

    def forward(self, y):
        mid = y.shape[1]
        se = A.se_channels(mid)
        s = y.mean(dim=(2, 3), keepdim=True)
        s = F.relu(F.conv2d(s, self.reduce.weight[:se, :mid], self.reduce.bias[:se]))
        s = h_sigmoid(F.conv2d(s, self.expand.weight[:mid, :se], self.expand.bias[:mid]))
        return y * s


class Block(nn.Module):
    def __init__(self, geometry, arch):
        super().__init__()
        self.g, eps, mid = geometry, arch["bn_eps"], geometry["max_mid"]
        self.inverted_bottleneck = ConvBN([mid, geometry["in"], 1, 1], eps)
        self.depth_conv = DepthConv(mid, arch)
        if geometry["se"]:
            self.se = SE(mid)
        self.point_linear = ConvBN([geometry["out"], mid, 1, 1], eps)

    def forward(self, x, k, e):
        g = self.g
        mid = A.mid_channels(g["in"], e)
        y = F.conv2d(x, self.inverted_bottleneck.weight[:mid, :g["in"]])
        y = activation(self.inverted_bottleneck.bn(y), g["act"])
        y = F.conv2d(y, self.depth_conv.kernel(mid, k), stride=g["stride"], padding=k // 2, groups=mid)
        y = activation(self.depth_conv.bn(y), g["act"])
        if g["se"]:
            y = self.se(y)
        y = self.point_linear.bn(F.conv2d(y, self.point_linear.weight[:, :mid]))
        return x + y if g["residual"] else y


class FirstBlock(nn.Module):
    def __init__(self, arch):
        super().__init__()
        stem, fb, eps = arch["stem"]["width"], arch["first_block"]["width"], arch["bn_eps"]
        self.act = arch["first_block"]["act"]
        self.depth_conv = ConvBN([stem, 1, 3, 3], eps)
        self.point_linear = ConvBN([fb, stem, 1, 1], eps)
        self.residual = stem == fb

    def forward(self, x):
        y = F.conv2d(x, self.depth_conv.weight, padding=1, groups=x.shape[1])
        y = activation(self.depth_conv.bn(y), self.act)
        y = self.point_linear.bn(F.conv2d(y, self.point_linear.weight))
        return x + y if self.residual else y


class Supernet(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.arch, eps = arch, arch["bn_eps"]
        self.first_conv = ConvBN([arch["stem"]["width"], arch["in_channels"], 3, 3], eps)
        self.blocks = nn.ModuleList([FirstBlock(arch)] + [Block(g, arch) for g in A.blocks(arch)])
        last = arch["stages"][-1]["width"]
        self.final_expand_layer = ConvBN([arch["final_expand"], last, 1, 1], eps)
        self.feature_mix_layer = ConvBN([arch["feature_mix"], arch["final_expand"], 1, 1])
        self.classifier = nn.Linear(arch["feature_mix"], arch["n_classes"])
        self.config = None
        self.reset_parameters()
        self.set_active(self.largest_config(0))  # r is informational here: inputs come resized

    def reset_parameters(self):
        """He init (fan-out) for convs as OFA does; BN gamma 1; residual blocks' last BN gamma 0 so every block
        starts as identity (stabilises the first steps of a short schedule)."""
        for name, p in self.named_parameters():
            if name.endswith("_matrix") or ".bn." in name:
                continue
            if p.dim() == 4:
                fan_out = p.shape[0] * p.shape[2] * p.shape[3] // (p.shape[0] if p.shape[1] == 1 else 1)
                nn.init.normal_(p, 0.0, (2.0 / max(fan_out, 1)) ** 0.5)
            elif name == "classifier.weight":
                nn.init.normal_(p, 0.0, 0.01)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
        for block in self.blocks[1:]:
            if block.g["residual"]:
                nn.init.zeros_(block.point_linear.bn.weight)

    # ---- sub-network selection ----
    def largest_config(self, r):
        a = self.arch
        return {"ks": max(a["ks_list"]), "e": max(a["expand_ratio_list"]), "d": max(a["depth_list"]), "r": r}

    def smallest_config(self, r):
        a = self.arch
        return {"ks": min(a["ks_list"]), "e": min(a["expand_ratio_list"]), "d": min(a["depth_list"]), "r": r}

    def set_active(self, config):
        self.config = A.normalise_config(self.arch, config)

    def forward(self, x):
        """Logits of the active sub-network for x already at the config's resolution."""
        a, cfg = self.arch, self.config
        # channels-last makes oneDNN's depthwise convolutions (and their backward) 3-4x faster on this CPU.
        # .to() sets the strides even for 1-channel input, where .contiguous() would see nothing to do.
        x = x.to(memory_format=torch.channels_last)
        x = F.conv2d(x, self.first_conv.weight, stride=a["stem"]["stride"], padding=1)
        x = activation(self.first_conv.bn(x), a["stem"]["act"])
        x = self.blocks[0](x)
        for i, _g, k, e in A.active_blocks(a, cfg):
            x = self.blocks[i](x, k, e)
        x = h_swish(self.final_expand_layer.bn(F.conv2d(x, self.final_expand_layer.weight)))
        x = x.mean(dim=(2, 3), keepdim=True)
        x = h_swish(F.conv2d(x, self.feature_mix_layer.weight))
        return self.classifier(x.flatten(1))

    # ---- package interface ----
    def weights(self):
        """name -> numpy array of every tensor of the package layout."""
        return {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}

    def bn_modules(self):
        """(layer name as in arch.bn_layers, DynamicBN) pairs."""
        return [(name[:-len(".bn")], m) for name, m in self.named_modules() if isinstance(m, DynamicBN)]

    @torch.no_grad()
    def calibrate(self, batches):
        """OFA's BN recalibration for the active sub-network: forward each batch normalising with its own
        statistics and average the per-batch mean/variance. Returns {layer: (mean, var)} for the BNs the
        sub-network uses (the per-subnet statistics an operating point stores); the supernet is unchanged."""
        was_training = self.training
        self.eval()
        mods = self.bn_modules()
        for _n, m in mods:
            m.record = []
        try:
            for x in batches:
                self(x)
        finally:
            records = {n: m.record for n, m in mods}
            for _n, m in mods:
                m.record = None
            self.train(was_training)
        return {n: (torch.stack([r[0] for r in rec]).mean(0), torch.stack([r[1] for r in rec]).mean(0))
                for n, rec in records.items() if rec}

    @torch.no_grad()
    def load_bn_stats(self, stats):
        """Write per-subnet statistics into the running-stat prefixes (for eval with this subnet)."""
        mods = dict(self.bn_modules())
        for name, (mean, var) in stats.items():
            m, c = mods[name], len(mean)
            m.running_mean[:c] = torch.as_tensor(mean)
            m.running_var[:c] = torch.as_tensor(var)
