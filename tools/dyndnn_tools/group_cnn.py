"""The incremental channel-group CNN (family "group_cnn"): architecture, costs, reference forward, trainable net.

Every layer's output channels are split into G groups (layer["widths"][i] channels in group i). Group i reads
  - "grouped":    only group i of the layer below (block-diagonal weights; PyTorch's grouped convolution; the
                  groups of a layer are then equally wide), or
  - "triangular": groups 1..i of the layer below (block lower-triangular weights).
Either way the features of groups 1..g never depend on any weight of a group > g, so the network with g groups
active computes exactly what it computed when stage g of the incremental training ended. The first layer reads
the image (every group sees all input channels). The classifier sums per-group contributions:
logits = sum_{i<=g} W_i h_i + b_i, where h_i is group i's part of the last hidden layer.

Operating point config: {"g": number of active groups, 1..G} (normalised with "r", the one input resolution).

Tensors (name -> shape), one per layer, holding all G groups (group i's rows follow groups 1..i-1's):
  layers.<l>.weight   conv: [C, in, k, k], fc: [C, in]; C = sum of the layer's widths; in = the input channels
                      (first layer), one input group's width ("grouped") or the whole input ("triangular"; the
                      blocks above the diagonal are 0)
  layers.<l>.bias     [C] (only when the layer has no batch norm)
  layers.<l>.bn.{weight,bias,running_mean,running_var}  [C]
  classifier.weight   [n_classes, C_last]
  classifier.bias     [G, n_classes]  (group i's bias; level g adds the first g rows)
The first fully connected layer reads the last feature map flattened in (channel, row, column) order, so a prefix
of groups is a prefix of its columns.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

FAMILY = "group_cnn"
CONNECTIVITIES = ("grouped", "triangular")
BN_EPS = 1e-5


def make_arch(groups=4, connectivity="triangular", in_channels=1, n_classes=10, resolution=28,
              conv_widths=(48, 96, 128, 128, 96), fc_widths=(384,), shares=None):
    """An AlexNet-style layout for 28x28 input: 5x5 conv, pool, 5x5 conv, pool, three 3x3 convs, pool, hidden fully
    connected layers, classifier. Widths are of the whole layer; `shares` (default equal) splits each layer among
    the groups in proportion, e.g. (1, 1, 2, 4): group 1 holds 1/8 of every layer."""
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity {connectivity!r}: use one of {CONNECTIVITIES}")
    shares = tuple(shares or (1,) * groups)
    if len(shares) != groups:
        raise ValueError(f"{len(shares)} shares for {groups} groups")
    if connectivity == "grouped" and len(set(shares)) != 1:
        raise ValueError("grouped connectivity needs equal groups (a grouped convolution's groups are equal)")

    def split(width):
        parts = [width * s // sum(shares) for s in shares]
        if sum(parts) != width or min(parts) < 1:
            raise ValueError(f"width {width} does not split into shares {shares}")
        return parts

    kernels = (5, 5, 3, 3, 3)
    pools = ({"kernel": 2, "stride": 2}, {"kernel": 2, "stride": 2}, None, None, {"kernel": 3, "stride": 2})
    layers = []
    for width, kernel, pool in zip(conv_widths, kernels, pools):
        layers.append({"type": "conv", "widths": split(width), "kernel": kernel, "stride": 1, "pad": kernel // 2,
                       "bn": True, "pool": pool})
    for width in fc_widths:
        layers.append({"type": "fc", "widths": split(width), "bn": False, "dropout": 0.3})
    return {"family": FAMILY, "groups": groups, "connectivity": connectivity, "in_channels": in_channels,
            "n_classes": n_classes, "resolution": resolution, "layers": layers}


def feature_sizes(arch):
    """Spatial size of each conv layer's output (after its pool), in order."""
    size, out = arch["resolution"], []
    for layer in arch["layers"]:
        if layer["type"] != "conv":
            break
        size = (size + 2 * layer["pad"] - layer["kernel"]) // layer["stride"] + 1
        if layer["pool"]:
            size = (size - layer["pool"]["kernel"]) // layer["pool"]["stride"] + 1
        out.append(size)
    return out


def spatial_factor(arch, index):
    """Columns per input channel of layer `index`: the flattened map for the first fully connected layer."""
    layers = arch["layers"]
    if index > 0 and layers[index]["type"] == "fc" and layers[index - 1]["type"] == "conv":
        return feature_sizes(arch)[-1] ** 2
    return 1


def rows(arch, index, g):
    """Channels of layer `index` that level g computes (a prefix: groups 1..g)."""
    return sum(arch["layers"][index]["widths"][:g])


def columns(arch, index, i):
    """Weight columns that output group i (0-based) of layer `index` reads: the input channels (first layer), one
    input group ("grouped") or the prefix of input groups 1..i+1 ("triangular"). The weight has columns(G-1)."""
    if index == 0:
        return arch["in_channels"]
    prev = arch["layers"][index - 1]["widths"]
    spatial = spatial_factor(arch, index)
    if arch["connectivity"] == "grouped":
        return prev[i] * spatial
    return sum(prev[:i + 1]) * spatial


def tensor_shapes(arch):
    G, shapes = arch["groups"], {}
    for index, layer in enumerate(arch["layers"]):
        total = rows(arch, index, G)
        kernel = [layer["kernel"]] * 2 if layer["type"] == "conv" else []
        shapes[f"layers.{index}.weight"] = [total, columns(arch, index, G - 1)] + kernel
        if layer["bn"]:
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"layers.{index}.bn.{name}"] = [total]
        else:
            shapes[f"layers.{index}.bias"] = [total]
    shapes["classifier.weight"] = [arch["n_classes"], rows(arch, len(arch["layers"]) - 1, G)]
    shapes["classifier.bias"] = [G, arch["n_classes"]]
    return shapes


def normalise_config(arch, config):
    """{"g": g} or {"g": g, "r": resolution} -> {"g": g, "r": resolution} (the library's normalised form)."""
    if not isinstance(config, dict) or "g" not in config or not set(config) <= {"g", "r"}:
        raise ValueError(f"group_cnn config {config!r}: expected {{'g': active groups}}")
    g = config["g"]
    if not isinstance(g, int) or isinstance(g, bool) or not 1 <= g <= arch["groups"]:
        raise ValueError(f"group_cnn config g={g!r}: must be an integer in 1..{arch['groups']}")
    if config.get("r", arch["resolution"]) != arch["resolution"]:
        raise ValueError(f"group_cnn config r={config['r']!r}: this network runs at {arch['resolution']}")
    return {"g": g, "r": arch["resolution"]}


def cost(arch, config):
    """(MACs, parameters) of level g, counting only the weights it uses (zero blocks excluded)."""
    g = normalise_config(arch, config)["g"]
    sizes = feature_sizes(arch)
    size, macs, params = arch["resolution"], 0, 0
    for index, layer in enumerate(arch["layers"]):
        weights = sum(layer["widths"][i] * columns(arch, index, i) for i in range(g))
        if layer["type"] == "conv":
            weights *= layer["kernel"] ** 2
            out_size = (size + 2 * layer["pad"] - layer["kernel"]) // layer["stride"] + 1
            macs += weights * out_size * out_size
            size = sizes[index]
        else:
            macs += weights
        params += weights + (2 if layer["bn"] else 1) * rows(arch, index, g)  # BN folds to a scale and a shift
    classifier = rows(arch, len(arch["layers"]) - 1, g) * arch["n_classes"]
    return macs + classifier, params + classifier + arch["n_classes"]


def block_mask(arch, index, g=None):
    """0/1 mask of layer `index`'s weight [rows, cols] (spatial dims omitted): what level g (default G) may use."""
    g = arch["groups"] if g is None else g
    shape = tensor_shapes(arch)[f"layers.{index}.weight"]
    mask = torch.zeros(shape[0], shape[1])
    for i in range(g):
        mask[rows(arch, index, i):rows(arch, index, i + 1), :columns(arch, index, i)] = 1
    return mask


# ---------------------------------------------------------------------------------------------- reference forward

def _layer(x, weights, arch, index, g):
    """Layer `index` of level g on level-g activations, with plain functional ops (obviously right)."""
    layer = arch["layers"][index]
    c = rows(arch, index, g)
    grouped = arch["connectivity"] == "grouped" and index > 0
    weight = weights[f"layers.{index}.weight"][:c]
    if not grouped:
        weight = weight[:, :columns(arch, index, g - 1)]
    if layer["type"] == "fc":
        x = x.flatten(1)
    if layer["type"] == "conv":
        y = F.conv2d(x, weight, None, layer["stride"], layer["pad"], groups=g if grouped else 1)
    elif not grouped:
        y = F.linear(x, weight)
    else:  # block-diagonal: group i's rows read group i's column range
        per, w = weight.shape[1], layer["widths"][0]
        y = torch.cat([F.linear(x[:, i * per:(i + 1) * per], weight[i * w:(i + 1) * w]) for i in range(g)], 1)
    if layer["bn"]:
        bn = {n: weights[f"layers.{index}.bn.{n}"][:c] for n in ("weight", "bias", "running_mean", "running_var")}
        y = F.batch_norm(y, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], False, 0.0, BN_EPS)
    else:
        y = y + weights[f"layers.{index}.bias"][:c].view(1, -1, *([1] * (y.dim() - 2)))
    y = F.relu(y)
    if layer["type"] == "conv" and layer["pool"]:
        y = F.max_pool2d(y, layer["pool"]["kernel"], layer["pool"]["stride"])
    return y


def check_triangular(arch, weights):
    """Raise when a triangular package has non-zero weights above the diagonal blocks (pruning would not be exact)."""
    if arch["connectivity"] != "triangular":
        return
    for index in range(len(arch["layers"])):
        weight = weights[f"layers.{index}.weight"]
        mask = block_mask(arch, index)
        above = weight.reshape(weight.shape[0], weight.shape[1], -1) * (1 - mask).unsqueeze(-1)
        if float(above.abs().max()) != 0.0:
            raise ValueError(f"layers.{index}.weight: non-zero weights above the diagonal blocks")


def forward(weights, arch, config, x):
    """Logits of level config["g"] for normalised input x [N, C, r, r]; weights: name -> tensor."""
    g = normalise_config(arch, config)["g"]
    check_triangular(arch, weights)
    for index in range(len(arch["layers"])):
        x = _layer(x, weights, arch, index, g)
    c = rows(arch, len(arch["layers"]) - 1, g)
    return F.linear(x, weights["classifier.weight"][:, :c]) + weights["classifier.bias"][:g].sum(0)


# ---------------------------------------------------------------------------------------------- trainable network

class GroupCNN(nn.Module):
    """Trainable form: one parameter set per (layer, group), so a stage trains exactly one group and the optimiser
    never touches the frozen ones (weight decay and momentum included). `stage` = the group being trained (1-based):
    groups < stage run with their BN statistics frozen, groups > stage are unused."""

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        G = arch["groups"]
        shapes = tensor_shapes(arch)
        self.stage = 1
        self.blocks = nn.ModuleList()
        for index, layer in enumerate(arch["layers"]):
            kernel = shapes[f"layers.{index}.weight"][2:]
            groups = nn.ModuleList()
            for i, w in enumerate(layer["widths"]):
                m = nn.Module()
                m.weight = nn.Parameter(torch.empty([w, columns(arch, index, i)] + kernel))
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if layer["bn"]:
                    m.bn = nn.BatchNorm2d(w, eps=BN_EPS, momentum=0.1)
                else:
                    m.bias = nn.Parameter(torch.zeros(w))
                groups.append(m)
            self.blocks.append(groups)
        self.heads = nn.ModuleList()
        for i, w in enumerate(arch["layers"][-1]["widths"]):
            head = nn.Linear(w, arch["n_classes"])
            if i > 0:  # a new group starts contributing nothing: stage g begins exactly at level g-1's accuracy
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
            self.heads.append(head)

    def group_parameters(self, i):
        """Parameters of group i (0-based), classifier part included."""
        params = [p for groups in self.blocks for p in groups[i].parameters()]
        return params + list(self.heads[i].parameters())

    def _weight(self, index, g):
        """Layer `index`'s weight for level g as the engine sees it (zeros where a group may not read)."""
        parts = []
        cols = columns(self.arch, index, g - 1)
        for i in range(g):
            wgt = self.blocks[index][i].weight
            if self.arch["connectivity"] == "triangular" and wgt.shape[1] < cols:
                wgt = F.pad(wgt, [0, 0] * (wgt.dim() - 2) + [0, cols - wgt.shape[1]])
            parts.append(wgt)
        return torch.cat(parts, 0)

    def _linear_op(self, index, x, weight, groups):
        """Conv or fully connected op of layer `index`; `groups` equal block-diagonal groups (1 = dense)."""
        layer = self.arch["layers"][index]
        if layer["type"] == "fc":
            x = x.flatten(1)
        if layer["type"] == "conv":
            return F.conv2d(x, weight, None, layer["stride"], layer["pad"], groups=groups)
        if groups == 1:
            return F.linear(x, weight)
        per, n = x.shape[1] // groups, weight.shape[0] // groups
        return torch.cat([F.linear(x[:, i * per:(i + 1) * per], weight[i * n:(i + 1) * n]) for i in range(groups)], 1)

    def _post(self, index, y, first, count, train_stats):
        """BN (or bias), ReLU, pool and dropout of groups first..first+count-1 (0-based) on their rows y."""
        layer = self.arch["layers"][index]
        members = [self.blocks[index][i] for i in range(first, first + count)]
        if layer["bn"]:
            parts, start = [], 0
            for m in members:
                w = m.bn.num_features
                parts.append(F.batch_norm(y[:, start:start + w], m.bn.running_mean, m.bn.running_var, m.bn.weight,
                                          m.bn.bias, train_stats, m.bn.momentum, m.bn.eps))
                start += w
            y = torch.cat(parts, 1)
        else:
            y = y + torch.cat([m.bias for m in members]).view(1, -1, *([1] * (y.dim() - 2)))
        y = F.relu(y)
        if layer["type"] == "conv" and layer["pool"]:
            y = F.max_pool2d(y, layer["pool"]["kernel"], layer["pool"]["stride"])
        if layer["type"] == "fc" and train_stats and layer.get("dropout"):
            y = F.dropout(y, layer["dropout"], True)
        return y

    def _level(self, x, g):
        """Level g in inference form (all BN statistics frozen): what the engine computes."""
        for index in range(len(self.arch["layers"])):
            grouped = self.arch["connectivity"] == "grouped" and index > 0
            x = self._post(index, self._linear_op(index, x, self._weight(index, g), g if grouped else 1), 0, g, False)
        return x

    def staged(self, x):
        """Training forward of stage s -> (level-s logits, group s's own classifier contribution): groups < s as a
        frozen level s-1 (no autograd graph at all), group s on top of it; only group s's rows are differentiated,
        so a stage costs one level forward plus the backward of one group."""
        s = self.stage
        frozen, frozen_in, current = None, None, x
        for index, layer in enumerate(self.arch["layers"]):
            first = index == 0
            grouped = self.arch["connectivity"] == "grouped" and not first
            if s > 1:
                with torch.no_grad():
                    frozen_in, src = frozen, (x if first else frozen)
                    frozen = self._post(index, self._linear_op(index, src, self._weight(index, s - 1),
                                                               s - 1 if grouped else 1), 0, s - 1, False)
            src = current
            if not (first or grouped or s == 1):  # triangular: group s reads groups 1..s of the layer below
                flat = layer["type"] == "fc"
                src = torch.cat([frozen_in.flatten(1) if flat else frozen_in, current.flatten(1) if flat else current], 1)
            current = self._post(index, self._linear_op(index, src, self.blocks[index][s - 1].weight, 1), s - 1, 1, True)
        own = self.heads[s - 1](current)
        return (own + self._classify(frozen, s - 1) if s > 1 else own), own

    def _classify(self, features, g):
        """Sum of the first g groups' classifier contributions on level-g features."""
        out, start = 0, 0
        for head in self.heads[:g]:
            out = out + head(features[:, start:start + head.in_features])
            start += head.in_features
        return out

    def forward(self, x, g=None):
        g = self.stage if g is None else g
        if self.training:
            if g != self.stage:
                raise ValueError(f"training runs stage {self.stage}; cannot train level {g}")
            return self.staged(x)[0]
        return self._classify(self._level(x, g), g)

    def export(self):
        """name -> tensor of the package (tensor_shapes): all groups concatenated, zero blocks filled in."""
        G, out = self.arch["groups"], {}
        for index, layer in enumerate(self.arch["layers"]):
            out[f"layers.{index}.weight"] = self._weight(index, G).detach().clone()
            if layer["bn"]:
                for name in ("weight", "bias", "running_mean", "running_var"):
                    out[f"layers.{index}.bn.{name}"] = torch.cat(
                        [getattr(self.blocks[index][i].bn, name).detach() for i in range(G)])
            else:
                out[f"layers.{index}.bias"] = torch.cat([self.blocks[index][i].bias.detach() for i in range(G)])
        out["classifier.weight"] = torch.cat([h.weight.detach() for h in self.heads], 1)
        out["classifier.bias"] = torch.stack([h.bias.detach() for h in self.heads])
        return out


def random_weights(arch, generator):
    """Random weights with the package's structure (zeros above the diagonal blocks), random BN."""
    out = {}
    for name, shape in tensor_shapes(arch).items():
        if name.endswith("running_var") or name.endswith("bn.weight"):
            t = torch.rand(shape, generator=generator) + 0.5
        elif name.endswith("weight"):
            t = torch.randn(shape, generator=generator)
            if name.startswith("layers."):
                index = int(name.split(".")[1])
                mask = block_mask(arch, index).view(shape[0], shape[1], *([1] * (len(shape) - 2)))
                # He scale over what each row really reads, so the activations neither vanish nor explode
                fan_in = mask.sum(1, keepdim=True) * math.prod(shape[2:])
                t = t * mask * (2.0 / fan_in).sqrt()
            else:
                t = t * math.sqrt(2.0 / shape[1])
        else:
            t = torch.randn(shape, generator=generator) * 0.1
        out[name] = t
    return out
