"""The elastic Vision Transformer (family "elastic_vit"): architecture, configs, costs, forward pass, trainable net.

One set of weights holds every sub-network; each elastic dimension is a prefix of the largest one's:
  d  depth: the first d encoder blocks run,
  w  embedding width: the first w channels of every layer (weight entanglement across all layers, as in
     AutoFormer / HAT), layer norms over those w channels,
  h  attention heads of each block: its first h heads (head width fixed at arch["head_dim"]),
  m  MLP hidden width of each block: its first m neurons.
A sub-network: patch embedding (a p x p convolution of stride p, no overlap) plus a learned positional embedding,
d pre-norm blocks x += proj(attn(ln1(x))); x += fc2(gelu(fc1(ln2(x)))), a final layer norm, the mean of the tokens
and a linear head. No class token: mean pooling needs no extra token and the op graph no constant concat.

Config (an operating point's "config"): {"d": [d], "w": [w], "h": [h per block], "m": [m per block], "r": res};
scalars or one-element lists broadcast; per-block lists have arch["max_depth"] entries (those past d are kept but
unused). The input resolution is fixed (arch["resolution"]): see tools/train_vit_supernet.py for why.

Tensors (name -> shape), C = max width, A = max heads * head_dim, M = max MLP width, T = tokens:
  patch.weight [C, in, p, p], patch.bias [C], pos [T, C] (token t = row-major patch t)
  blocks.<i>.ln1.{weight,bias} [C]; blocks.<i>.attn.{q,k,v}.weight [A, C], .bias [A];
  blocks.<i>.attn.proj.weight [C, A], .bias [C]; blocks.<i>.ln2.{weight,bias} [C];
  blocks.<i>.mlp.fc1.weight [M, C], .bias [M]; blocks.<i>.mlp.fc2.weight [C, M], .bias [C]
  norm.{weight,bias} [C]; head.weight [n_classes, C], head.bias [n_classes]
In a package the query weight and bias are stored already multiplied by head_dim ** -0.5 (the attention scale),
so the library's graph and forward(..., q_scale=1) need no scaling op; the trainable net keeps them unscaled.
"""
import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

FAMILY = "elastic_vit"
KNOBS = ("d", "w", "h", "m")


def make_arch(in_channels=1, n_classes=10, resolution=28, patch=4, widths=(64, 96, 128), depths=(2, 3, 4, 5, 6),
              heads=(1, 2, 3, 4), head_dim=32, mlp_widths=(64, 128, 192, 256), ln_eps=1e-5):
    if resolution % patch:
        raise ValueError(f"resolution {resolution} is not a multiple of the patch size {patch}")
    return {"family": FAMILY, "in_channels": in_channels, "n_classes": n_classes, "resolution": resolution,
            "patch": patch, "widths": sorted(widths), "depths": sorted(depths), "heads": sorted(heads),
            "head_dim": head_dim, "mlp_widths": sorted(mlp_widths), "ln_eps": ln_eps}


def tokens(arch):
    return (arch["resolution"] // arch["patch"]) ** 2


def max_depth(arch):
    return max(arch["depths"])


def tensor_shapes(arch):
    c, a, m = max(arch["widths"]), max(arch["heads"]) * arch["head_dim"], max(arch["mlp_widths"])
    p = arch["patch"]
    out = {"patch.weight": [c, arch["in_channels"], p, p], "patch.bias": [c], "pos": [tokens(arch), c]}
    for i in range(max_depth(arch)):
        b = f"blocks.{i}."
        for n in ("ln1", "ln2"):
            out[b + n + ".weight"], out[b + n + ".bias"] = [c], [c]
        for n in ("q", "k", "v"):
            out[b + f"attn.{n}.weight"], out[b + f"attn.{n}.bias"] = [a, c], [a]
        out[b + "attn.proj.weight"], out[b + "attn.proj.bias"] = [c, a], [c]
        out[b + "mlp.fc1.weight"], out[b + "mlp.fc1.bias"] = [m, c], [m]
        out[b + "mlp.fc2.weight"], out[b + "mlp.fc2.bias"] = [c, m], [c]
    out["norm.weight"], out["norm.bias"] = [c], [c]
    out["head.weight"], out["head.bias"] = [arch["n_classes"], c], [arch["n_classes"]]
    return out


def normalise_config(arch, config):
    """Broadcast and validate; raises ValueError naming the field and what is allowed."""
    extra = sorted(set(config) - set(KNOBS) - {"r"})
    if extra:
        raise ValueError(f"config: unknown field(s) {extra} (an elastic_vit has {list(KNOBS)} and 'r')")
    allowed = {"d": arch["depths"], "w": arch["widths"], "h": arch["heads"], "m": arch["mlp_widths"]}
    out = {}
    for key in KNOBS:
        if key not in config:
            raise ValueError(f"config: missing field '{key}' (allowed values {allowed[key]})")
        v = config[key]
        v = list(v) if isinstance(v, (list, tuple)) else [v]
        n = 1 if key in ("d", "w") else max_depth(arch)
        if len(v) == 1:
            v = v * n
        if len(v) != n:
            raise ValueError(f"config field '{key}': {len(v)} values, expected 1 or {n}")
        for x in v:
            if x not in allowed[key]:
                raise ValueError(f"config field '{key}' = {x}: allowed values {allowed[key]}")
        out[key] = [int(x) for x in v]
    r = config.get("r", arch["resolution"])
    if r != arch["resolution"]:
        raise ValueError(f"config field 'r' = {r}: an elastic_vit runs at {arch['resolution']}")
    out["r"] = arch["resolution"]
    return out


def cost(arch, config):
    """(MACs, params) of a normalised config, counting what the library's graph computes (its Graph::macs)."""
    t, dh, p = tokens(arch), arch["head_dim"], arch["patch"]
    c, depth = config["w"][0], config["d"][0]
    macs = t * c * arch["in_channels"] * p * p
    params = c * arch["in_channels"] * p * p + c + t * c
    for i in range(depth):
        a, m = config["h"][i] * dh, config["m"][i]
        macs += t * c * a * 3 + 2 * t * t * a + t * a * c + 2 * t * c * m
        params += 4 * c + 3 * (a * c + a) + c * a + c + m * c + m + c * m + c
    n = arch["n_classes"]
    return macs + c * n, params + 2 * c + c * n + n


def largest_config(arch):
    return normalise_config(arch, {"d": max(arch["depths"]), "w": max(arch["widths"]), "h": max(arch["heads"]),
                                   "m": max(arch["mlp_widths"])})


def smallest_config(arch):
    return normalise_config(arch, {"d": min(arch["depths"]), "w": min(arch["widths"]), "h": min(arch["heads"]),
                                   "m": min(arch["mlp_widths"])})


def random_config(arch, rng=random):
    n = max_depth(arch)
    return normalise_config(arch, {"d": rng.choice(arch["depths"]), "w": rng.choice(arch["widths"]),
                                   "h": [rng.choice(arch["heads"]) for _ in range(n)],
                                   "m": [rng.choice(arch["mlp_widths"]) for _ in range(n)]})


def forward(weights, arch, config, x, q_scale):
    """Logits of sub-network `config` (normalised) for images x [B, in, r, r]; `weights` maps the tensor names to
    tensors of the full shapes. q_scale multiplies the queries (head_dim ** -0.5 for trainable weights, 1 for a
    package's, which carry it). The one forward pass: the trainable net and the Python reference both run it."""
    w_ = lambda name: weights[name]  # noqa: E731
    c, depth, dh, eps = config["w"][0], config["d"][0], arch["head_dim"], arch["ln_eps"]
    x = F.conv2d(x, w_("patch.weight")[:c], w_("patch.bias")[:c], stride=arch["patch"])  # [B, c, s, s]
    b = x.shape[0]
    x = x.flatten(2).transpose(1, 2) + w_("pos")[:, :c]  # [B, T, c]
    t = x.shape[1]

    def ln(v, name):
        return F.layer_norm(v, (c,), w_(name + ".weight")[:c], w_(name + ".bias")[:c], eps)

    def lin(v, name, rows, cols):
        return F.linear(v, w_(name + ".weight")[:rows, :cols], w_(name + ".bias")[:rows])

    for i in range(depth):
        p = f"blocks.{i}."
        h, m = config["h"][i], config["m"][i]
        a = h * dh
        y = ln(x, p + "ln1")
        q = lin(y, p + "attn.q", a, c) * q_scale
        k, v = lin(y, p + "attn.k", a, c), lin(y, p + "attn.v", a, c)
        q, k, v = (z.reshape(b, t, h, dh).transpose(1, 2) for z in (q, k, v))  # [B, h, T, dh]
        att = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, a)
        x = x + lin(y, p + "attn.proj", c, a)
        y = F.gelu(lin(ln(x, p + "ln2"), p + "mlp.fc1", m, c))
        x = x + lin(y, p + "mlp.fc2", c, m)
    x = ln(x, "norm").mean(1)
    return F.linear(x, w_("head.weight")[:, :c], w_("head.bias"))


def init_weights(arch, generator=None):
    """Fresh trainable weights: truncated-normal(0.02) linears and positional embedding (ViT's init), PyTorch's
    default for the patch convolution, zero biases, unit layer norms."""
    out = {}
    for name, shape in tensor_shapes(arch).items():
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "norm.weight":
            out[name] = torch.ones(shape)
        elif name.endswith(".bias"):
            out[name] = torch.zeros(shape)
        elif name == "patch.weight":
            fan_in = shape[1] * shape[2] * shape[3]
            out[name] = (torch.rand(shape, generator=generator) * 2 - 1) / math.sqrt(fan_in)
        else:
            out[name] = (torch.randn(shape, generator=generator) * 0.02).clamp_(-0.04, 0.04)
    return out


class ElasticViT(nn.Module):
    """The trainable supernet: parameters named as in tensor_shapes (dots become '__' inside the ParameterDict)."""

    def __init__(self, arch, generator=None):
        super().__init__()
        self.arch = arch
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v)
                                        for k, v in init_weights(arch, generator).items()})
        self.config = largest_config(arch)

    def set_active(self, config):
        self.config = normalise_config(self.arch, config)

    def weights(self):
        return {k.replace("__", "."): v for k, v in self.params.items()}

    def forward(self, x):
        return forward(self.weights(), self.arch, self.config, x, self.arch["head_dim"] ** -0.5)

    def export(self):
        """name -> float32 numpy array as the package stores them (queries pre-scaled)."""
        scale = self.arch["head_dim"] ** -0.5
        out = {}
        for name, v in self.weights().items():
            v = v.detach().float()
            if ".attn.q." in name:
                v = v * scale
            out[name] = v.numpy().copy()
        return out


class StaticViT(nn.Module):
    """One sub-network as a plain module holding only its own (sliced, contiguous) weights: what a static
    deployment of it is, for tracing and freezing as TorchScript. Takes a package's weights (queries pre-scaled)."""

    def __init__(self, weights, arch, config):
        super().__init__()
        self.arch, self.config = arch, normalise_config(arch, config)
        c, dh = self.config["w"][0], arch["head_dim"]
        own = {}
        for name, shape in tensor_shapes(arch).items():
            if name.startswith("blocks.") and int(name.split(".")[1]) >= self.config["d"][0]:
                continue
            t = torch.as_tensor(weights[name]).float()
            if name.startswith("blocks."):
                i = int(name.split(".")[1])
                a, m = self.config["h"][i] * dh, self.config["m"][i]
                rows = {"attn.q": a, "attn.k": a, "attn.v": a, "attn.proj": c, "mlp.fc1": m, "mlp.fc2": c,
                        "ln1": c, "ln2": c}
                cols = {"attn.q": c, "attn.k": c, "attn.v": c, "attn.proj": a, "mlp.fc1": c, "mlp.fc2": m}
                layer = name.split(".", 2)[2].rsplit(".", 1)[0]
                t = t[:rows[layer]]
                if t.dim() == 2:
                    t = t[:, :cols[layer]]
            elif name == "pos":
                t = t[:, :c]
            elif name == "head.weight":
                t = t[:, :c]
            elif name != "head.bias":
                t = t[:c]
            own[name] = t.contiguous()
        # the sliced weights are full-size for this sub-network, so forward()'s prefixes select all of them
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v, requires_grad=False)
                                        for k, v in own.items()})

    def forward(self, x):
        return forward({k.replace("__", "."): v for k, v in self.params.items()}, self.arch, self.config, x, 1.0)


def frozen_torchscript(weights, arch, config):
    """(optimised frozen module, traced module) of one sub-network; save the traced one (see static_subnet.py:
    C++ applies torch::jit::freeze + optimize_for_inference after loading)."""
    model = StaticViT(weights, arch, config).eval()
    example = torch.randn(1, arch["in_channels"], arch["resolution"], arch["resolution"])
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return frozen, traced
