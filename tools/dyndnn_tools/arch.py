"""The OFA MobileNetV3 family: architecture spec, sub-network configs, tensor layout, MACs and params.

Mirrors src/nn/ofa_mbv3_arch.cpp; the package format stores the spec as JSON so both sides agree.
Semantics follow Once-for-All (see the project's reference notes, section 1).
"""
import math
import random

FAMILY = "ofa_mbv3"

OFA_BASE_WIDTHS = [16, 16, 24, 40, 80, 112, 160, 960, 1280]
OFA_STRIDES = [2, 2, 2, 1, 2]
OFA_ACTS = ["relu", "relu", "h_swish", "h_swish", "h_swish"]
OFA_SE = [False, True, False, True, True]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def make_divisible(v, divisor=8, min_val=None):
    """Round `v` to the nearest multiple of `divisor`, never going below 90% of `v` (OFA's rule)."""
    min_val = divisor if min_val is None else min_val
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def ofa_mbv3(width_mult=1.0, n_classes=1000, in_channels=3, ks_list=(3, 5, 7), expand_ratio_list=(3, 4, 6),
             depth_list=(2, 3, 4), base_widths=None, strides=None, stem_stride=2):
    """The published OFA MobileNetV3 layout, optionally resized (widths/strides) for small inputs."""
    base = list(base_widths or OFA_BASE_WIDTHS)
    widths = [make_divisible(w * width_mult) for w in base]
    strides = list(strides or OFA_STRIDES)
    return {
        "in_channels": in_channels,
        "n_classes": n_classes,
        "width_mult": width_mult,
        "stem": {"width": widths[0], "stride": stem_stride, "act": "h_swish"},
        "first_block": {"width": widths[1], "act": "relu"},
        "stages": [{"width": w, "stride": s, "act": a, "se": se}
                   for w, s, a, se in zip(widths[2:7], strides, OFA_ACTS, OFA_SE)],
        "final_expand": widths[7],
        "feature_mix": widths[8],
        "ks_list": sorted(ks_list),
        "expand_ratio_list": sorted(expand_ratio_list),
        "depth_list": sorted(depth_list),
        "bn_eps": 1e-5,
    }


def imagenet_input(resolutions=None, width_mult=1.0):
    low = 128 if width_mult <= 1.0 else 160
    return {"channels": 3, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
            "resolutions": list(resolutions or range(low, 225, 4)), "crop_ratio": 0.875}


def max_depth(arch):
    return max(arch["depth_list"])


def blocks(arch):
    """Geometry of the elastic blocks (index 1..): dicts with in/out/stride/act/se/max_mid/stage."""
    out = []
    feature = arch["first_block"]["width"]
    for stage_index, stage in enumerate(arch["stages"]):
        for i in range(max_depth(arch)):
            stride = stage["stride"] if i == 0 else 1
            max_mid = mid_channels(feature, max(arch["expand_ratio_list"]))
            out.append({"in": feature, "out": stage["width"], "stride": stride, "act": stage["act"],
                        "se": stage["se"], "max_mid": max_mid, "stage": stage_index,
                        "residual": stride == 1 and feature == stage["width"]})
            feature = stage["width"]
    return out


def mid_channels(in_channels, expand_ratio):
    return make_divisible(round(in_channels * expand_ratio))


def se_channels(mid):
    return make_divisible(mid // 4)


def transform_pairs(arch):
    """Kernel transform matrices of a depthwise conv: (src, dst) for each step down the kernel list."""
    ks = sorted(arch["ks_list"])
    return [(ks[i], ks[i - 1]) for i in range(len(ks) - 1, 0, -1)]


def _bn(name, c):
    return {f"{name}.bn.{p}": [c] for p in ("weight", "bias", "running_mean", "running_var")}


def tensor_shapes(arch):
    """name -> shape of every tensor a package of this architecture holds (the shared supernet)."""
    s = {}
    stem, fb = arch["stem"]["width"], arch["first_block"]["width"]
    s["first_conv.weight"] = [stem, arch["in_channels"], 3, 3]
    s.update(_bn("first_conv", stem))
    s["blocks.0.depth_conv.weight"] = [stem, 1, 3, 3]
    s.update(_bn("blocks.0.depth_conv", stem))
    s["blocks.0.point_linear.weight"] = [fb, stem, 1, 1]
    s.update(_bn("blocks.0.point_linear", fb))
    kmax = max(arch["ks_list"])
    for i, b in enumerate(blocks(arch), start=1):
        p, mid = f"blocks.{i}", b["max_mid"]
        s[f"{p}.inverted_bottleneck.weight"] = [mid, b["in"], 1, 1]
        s.update(_bn(f"{p}.inverted_bottleneck", mid))
        s[f"{p}.depth_conv.weight"] = [mid, 1, kmax, kmax]
        for src, dst in transform_pairs(arch):
            s[f"{p}.depth_conv.{src}to{dst}_matrix"] = [dst * dst, dst * dst]
        s.update(_bn(f"{p}.depth_conv", mid))
        if b["se"]:
            se = se_channels(mid)
            s[f"{p}.se.reduce.weight"] = [se, mid, 1, 1]
            s[f"{p}.se.reduce.bias"] = [se]
            s[f"{p}.se.expand.weight"] = [mid, se, 1, 1]
            s[f"{p}.se.expand.bias"] = [mid]
        s[f"{p}.point_linear.weight"] = [b["out"], mid, 1, 1]
        s.update(_bn(f"{p}.point_linear", b["out"]))
    last = arch["stages"][-1]["width"]
    s["final_expand_layer.weight"] = [arch["final_expand"], last, 1, 1]
    s.update(_bn("final_expand_layer", arch["final_expand"]))
    s["feature_mix_layer.weight"] = [arch["feature_mix"], arch["final_expand"], 1, 1]
    s["classifier.weight"] = [arch["n_classes"], arch["feature_mix"]]
    s["classifier.bias"] = [arch["n_classes"]]
    return s


# ---- sub-network configs in OFA's own dict form {ks: [...], e: [...], d: [...], r: int} ----

def n_elastic_blocks(arch):
    return len(arch["stages"]) * max_depth(arch)


def normalise_config(arch, config):
    """Broadcast scalars to lists (as OFA's set_active_subnet does) and validate against the spec."""
    n, stages = n_elastic_blocks(arch), len(arch["stages"])

    def as_list(key, length, allowed):
        v = config[key]
        v = [v] * length if isinstance(v, (int, float)) else list(v)
        if len(v) != length or any(x not in allowed for x in v):
            raise ValueError(f"config {key}={v}: need {length} values from {allowed}")
        return [int(x) for x in v]

    out = {"ks": as_list("ks", n, arch["ks_list"]), "e": as_list("e", n, arch["expand_ratio_list"]),
           "d": as_list("d", stages, arch["depth_list"]), "r": int(config["r"])}
    return out


def active_blocks(arch, config):
    """(block index starting at 1, geometry, kernel, expand) of every block the config runs."""
    out = []
    geometry = blocks(arch)
    depth = max_depth(arch)
    for stage, d in enumerate(config["d"]):
        for j in range(d):
            i = stage * depth + j
            out.append((i + 1, geometry[i], config["ks"][i], config["e"][i]))
    return out


def random_config(arch, resolutions, rng=random):
    n, stages = n_elastic_blocks(arch), len(arch["stages"])
    return {"ks": [rng.choice(arch["ks_list"]) for _ in range(n)],
            "e": [rng.choice(arch["expand_ratio_list"]) for _ in range(n)],
            "d": [rng.choice(arch["depth_list"]) for _ in range(stages)],
            "r": rng.choice(list(resolutions))}


def bn_layers(arch, config):
    """name -> active channel count of every batch-norm the sub-network uses (per-subnet statistics)."""
    out = {"first_conv": arch["stem"]["width"], "blocks.0.depth_conv": arch["stem"]["width"],
           "blocks.0.point_linear": arch["first_block"]["width"]}
    for i, b, _k, e in active_blocks(arch, config):
        mid = mid_channels(b["in"], e)
        out[f"blocks.{i}.inverted_bottleneck"] = mid
        out[f"blocks.{i}.depth_conv"] = mid
        out[f"blocks.{i}.point_linear"] = b["out"]
    out["final_expand_layer"] = arch["final_expand"]
    return out


def cost(arch, config):
    """(MACs, params) of the static sub-network: convolutions and the classifier; params include BN affine."""
    r = config["r"]
    size = math.ceil(r / arch["stem"]["stride"])
    macs = params = 0

    def conv(cin, cout, k, groups, hw, bn=True, bias=False):
        nonlocal macs, params
        w = cout * (cin // groups) * k * k
        macs += w * hw * hw
        params += w + (2 * cout if bn else 0) + (cout if bias else 0)

    stem, fb = arch["stem"]["width"], arch["first_block"]["width"]
    conv(arch["in_channels"], stem, 3, 1, size)
    conv(stem, stem, 3, stem, size)
    conv(stem, fb, 1, 1, size)
    for _i, b, k, e in active_blocks(arch, config):
        mid = mid_channels(b["in"], e)
        conv(b["in"], mid, 1, 1, size)
        size = math.ceil(size / b["stride"])
        conv(mid, mid, k, mid, size)
        if b["se"]:
            se = se_channels(mid)
            conv(mid, se, 1, 1, 1, bn=False, bias=True)
            conv(se, mid, 1, 1, 1, bn=False, bias=True)
        conv(mid, b["out"], 1, 1, size)
    conv(arch["stages"][-1]["width"], arch["final_expand"], 1, 1, size)
    conv(arch["final_expand"], arch["feature_mix"], 1, 1, 1, bn=False)
    macs += arch["feature_mix"] * arch["n_classes"]
    params += arch["feature_mix"] * arch["n_classes"] + arch["n_classes"]
    return macs, params
