"""A sub-network materialised as an ordinary static PyTorch module (Conv2d/BatchNorm2d/activations), built
with the reference's elastic rules. This is how an OFA user deploys one sub-network today: materialise,
trace, freeze; the benchmarks use it as the static peer."""
import torch
import torch.nn as nn

from . import arch as A
from . import reference


class ConvBNAct(nn.Sequential):
    def __init__(self, weight, stride, groups, bn, act):
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], weight.shape[-1], stride, weight.shape[-1] // 2,
                         groups=groups, bias=False)
        conv.weight.data.copy_(weight)
        norm = nn.BatchNorm2d(weight.shape[0], eps=bn["eps"])
        for k in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, k).data.copy_(bn[k])
        layers = [conv, norm]
        if act == "relu":
            layers.append(nn.ReLU())
        elif act == "h_swish":
            layers.append(nn.Hardswish())
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, rw, rb, ew, eb):
        super().__init__()
        self.reduce = nn.Conv2d(rw.shape[1], rw.shape[0], 1)
        self.expand = nn.Conv2d(ew.shape[1], ew.shape[0], 1)
        self.reduce.weight.data.copy_(rw)
        self.reduce.bias.data.copy_(rb)
        self.expand.weight.data.copy_(ew)
        self.expand.bias.data.copy_(eb)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * nn.functional.hardsigmoid(self.expand(torch.relu(self.reduce(s))))


class Block(nn.Module):
    def __init__(self, layers, residual):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class StaticSubnet(nn.Module):
    def __init__(self, weights, arch, config, bn_stats=None):
        super().__init__()
        config = A.normalise_config(arch, config)
        stats = bn_stats or {}
        W = weights

        def bn(name, c):
            mean, var = stats.get(name, (W[f"{name}.bn.running_mean"][:c], W[f"{name}.bn.running_var"][:c]))
            return {"weight": W[f"{name}.bn.weight"][:c], "bias": W[f"{name}.bn.bias"][:c], "running_mean": mean,
                    "running_var": var, "eps": arch["bn_eps"]}

        stem, fb = arch["stem"]["width"], arch["first_block"]["width"]
        self.stem = ConvBNAct(W["first_conv.weight"], arch["stem"]["stride"], 1, bn("first_conv", stem),
                              arch["stem"]["act"])
        blocks = [Block([ConvBNAct(W["blocks.0.depth_conv.weight"], 1, stem, bn("blocks.0.depth_conv", stem),
                                   arch["first_block"]["act"]),
                         ConvBNAct(W["blocks.0.point_linear.weight"], 1, 1, bn("blocks.0.point_linear", fb), None)],
                        stem == fb)]
        for i, b, k, e in A.active_blocks(arch, config):
            p, mid = f"blocks.{i}", A.mid_channels(b["in"], e)
            layers = [ConvBNAct(W[f"{p}.inverted_bottleneck.weight"][:mid], 1, 1, bn(f"{p}.inverted_bottleneck", mid),
                                b["act"]),
                      ConvBNAct(reference.active_kernel(W, p, arch, mid, k), b["stride"], mid,
                                bn(f"{p}.depth_conv", mid), b["act"])]
            if b["se"]:
                se = A.se_channels(mid)
                layers.append(SqueezeExcite(W[f"{p}.se.reduce.weight"][:se, :mid], W[f"{p}.se.reduce.bias"][:se],
                                            W[f"{p}.se.expand.weight"][:mid, :se], W[f"{p}.se.expand.bias"][:mid]))
            layers.append(ConvBNAct(W[f"{p}.point_linear.weight"][:, :mid], 1, 1, bn(f"{p}.point_linear", b["out"]),
                                    None))
            blocks.append(Block(layers, b["residual"]))
        self.blocks = nn.Sequential(*blocks)
        self.final_expand = ConvBNAct(W["final_expand_layer.weight"], 1, 1,
                                      bn("final_expand_layer", arch["final_expand"]), "h_swish")
        self.feature_mix = nn.Conv2d(arch["final_expand"], arch["feature_mix"], 1, bias=False)
        self.feature_mix.weight.data.copy_(W["feature_mix_layer.weight"])
        self.classifier = nn.Linear(arch["feature_mix"], arch["n_classes"])
        self.classifier.weight.data.copy_(W["classifier.weight"])
        self.classifier.bias.data.copy_(W["classifier.bias"])

    def forward(self, x):
        x = self.final_expand(self.blocks(self.stem(x)))
        x = nn.functional.hardswish(self.feature_mix(x.mean((2, 3), keepdim=True)))
        return self.classifier(x.flatten(1))


def frozen_torchscript(weights, arch, config, bn_stats=None):
    """Materialise, trace, torch.jit.freeze and torch.jit.optimize_for_inference: the static deployment.
    Returns (optimised frozen module, eager module, traced module). Save the traced one: the optimised graph
    holds oneDNN constants that this LibTorch cannot serialise; C++ applies the same freeze +
    optimize_for_inference after torch::jit::load."""
    model = StaticSubnet(weights, arch, config, bn_stats).eval()
    r = config["r"]
    example = torch.randn(1, arch["in_channels"], r, r)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    return frozen, model, traced
