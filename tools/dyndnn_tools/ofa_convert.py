"""Import a published Once-for-All MobileNetV3 supernet checkpoint into a .dyn package.

The checkpoint is `torch.load(path)['state_dict']` (or a bare state dict) of OFA's dynamic supernet
(`ofa_mbv3_d234_e346_k357_w1.0` / `_w1.2`). Keys are accepted in OFA's current naming (`blocks.<i>.conv.`), the
older naming of the published files (`blocks.<i>.mobile_inverted_conv.`) and the spellings OFA's own loader maps
onto each other (`bn.bn.` / `bn.`, `conv.conv.weight` / `conv.weight`, `linear.linear.` / `linear.`); a
`module.` prefix (DataParallel) is dropped. Every tensor is checked against the architecture of arch.ofa_mbv3
(missing, unexpected, duplicate, wrong shape, non-float, non-finite, negative BN variance): a ConversionError
names the key and says what to do. `num_batches_tracked` is accepted and ignored.

Pickle checkpoints can run code when they are loaded: load_tensor_file uses torch.load(weights_only=True)
where the installed torch has it, and full unpickling only when the caller says the file is trusted.
A .dyn package is plain safetensors and never runs code.
"""
import hashlib
import inspect
import json
import math
import os

import numpy as np
import torch

from . import arch as A
from . import package, safetensors_io

WIDTHS = (1.0, 1.2)
SUPPORTED = ("OFA MobileNetV3 supernets with ks [3, 5, 7], expand [3, 4, 6], depth [2, 3, 4] "
             "(ofa_mbv3_d234_e346_k357_w1.0 / _w1.2); other OFA families (ResNet50, ProxylessNAS) are not supported")


class ConversionError(Exception):
    """A checkpoint, levels file or BN statistics file that cannot be converted; str() is the whole message."""


def _weights_only_supported():
    try:
        return "weights_only" in inspect.signature(torch.load).parameters
    except (TypeError, ValueError):
        return False


def load_tensor_file(path, trust_pickle=False):
    """A checkpoint or statistics file: .safetensors (numpy reader) or torch.save's pickle format."""
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(9)
    if str(path).endswith(".safetensors") or (len(head) == 9 and head[8:9] == b"{"):
        try:
            tensors, _ = safetensors_io.read(path)
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            raise ConversionError(f"{path}: not a readable safetensors file: {e}") from None
        return {k: torch.from_numpy(v) for k, v in tensors.items()}
    kwargs = {"map_location": "cpu"}
    if not trust_pickle:
        if not _weights_only_supported():
            raise ConversionError(f"{path}: this torch ({torch.__version__}) cannot load pickle files safely "
                                  "(no weights_only); pass --trust-pickle if you trust the file")
        kwargs["weights_only"] = True
    try:
        return torch.load(path, **kwargs)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        hint = "" if trust_pickle else (" (loaded with weights_only=True; if the file holds more than tensors and "
                                        "you trust it, pass --trust-pickle)")
        raise ConversionError(f"{path}: cannot load the checkpoint: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}{hint}") from None


def extract_state_dict(obj, path):
    """obj['state_dict'] when present, else obj itself when it is a bare state dict; `module.` prefix dropped."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(f"{path}: holds neither a state dict nor {{'state_dict': ...}}")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ConversionError(f"{path}: not a state dict: entry {not_tensors[0]!r} is of type "
                              f"{type(obj[not_tensors[0]]).__name__}, not a tensor (top-level keys: "
                              f"{sorted(map(str, obj))[:8]})")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


# ---- key spellings ----

def canonical(key):
    """One spelling per tensor: `.conv.` block body, single `bn.` / `linear.`, single `conv.weight`."""
    parts = key.split(".")
    if len(parts) > 2 and parts[0] == "blocks" and parts[2] == "mobile_inverted_conv":
        parts[2] = "conv"
    out = []
    for p in parts:
        if out and p == out[-1] and p in ("bn", "linear"):
            continue
        out.append(p)
    if out[-3:] == ["conv", "conv", "weight"]:
        del out[-2]
    return ".".join(out)


def ofa_key(name):
    """dyndnn tensor name (arch.tensor_shapes) -> canonical OFA key."""
    parts = name.split(".")
    if parts[0] == "blocks":
        block, layer, rest = parts[1], parts[2], parts[3:]
        if layer == "se":
            return f"blocks.{block}.conv.depth_conv.se.fc.{'.'.join(rest)}"
        if rest == ["weight"] or rest[0].endswith("_matrix"):
            return f"blocks.{block}.conv.{layer}.conv.{rest[0]}"
        return f"blocks.{block}.conv.{layer}.{'.'.join(rest)}"  # bn.<field>
    if parts[0] == "classifier":
        return f"classifier.linear.{parts[1]}"
    if parts[1:] == ["weight"]:
        return f"{parts[0]}.conv.weight"
    return name  # <layer>.bn.<field>


class Spelling:
    """How the checkpoint spells keys, to name a missing key the way the user will look for it."""

    def __init__(self, keys):
        self.legacy = any(".mobile_inverted_conv." in k for k in keys)
        self.doubled = any(".bn.bn." in k or k.endswith(".conv.conv.weight") for k in keys) or not keys

    def spell(self, canon):
        parts = canon.split(".")
        if parts[0] == "blocks" and parts[1] != "0":
            if self.legacy:
                parts[2] = "mobile_inverted_conv"
            if self.doubled and len(parts) > 4 and parts[4] in ("bn", "conv") and not parts[-1].endswith("_matrix"):
                parts.insert(4, parts[4])
        elif parts[0] == "blocks" and self.legacy:
            parts[2] = "mobile_inverted_conv"
        return ".".join(parts)


# ---- validation ----

def _shape(t):
    return list(t.shape)


def _fits(sd_canon, arch):
    shapes = A.tensor_shapes(arch)
    return all(sd_canon.get(ofa_key(n)) is not None and _shape(sd_canon[ofa_key(n)][1]) == s
               for n, s in shapes.items())


def _hint(sd_canon, arch, width_mult, n_classes):
    """What to change on the command line when the checkpoint fits another OFA MBv3 configuration."""
    cls = sd_canon.get("classifier.linear.weight")
    classes = [n_classes] + ([cls[1].shape[0]] if cls is not None and cls[1].dim() == 2 else [])
    for w in (width_mult,) + tuple(x for x in WIDTHS if x != width_mult):
        for c in dict.fromkeys(classes):
            if (w, c) != (width_mult, n_classes) and _fits(sd_canon, A.ofa_mbv3(w, n_classes=c)):
                flags = ([f"--width-mult {w}"] if w != width_mult else []) + \
                        ([f"--n-classes {c}"] if c != n_classes else [])
                return f"the checkpoint is an OFA MBv3 w{w} supernet with {c} classes: run again with " + \
                       " ".join(flags)
    return f"check --width-mult ({'/'.join(map(str, WIDTHS))}) and --n-classes; supported: {SUPPORTED}"


def validate(sd, arch, width_mult, path):
    """Checkpoint state dict -> dyndnn-named float32 numpy weights, or ConversionError."""
    n_classes = arch["n_classes"]
    what = f"the OFA MBv3 w{width_mult} supernet with {n_classes} classes"
    spelling = Spelling(list(sd))
    canon = {}
    for key, tensor in sd.items():
        c = canonical(key)
        if c in canon:
            raise ConversionError(f"{path}: keys {canon[c][0]!r} and {key!r} are the same tensor spelt two ways; "
                                  "keep one")
        canon[c] = (key, tensor)
    shapes = A.tensor_shapes(arch)
    expected = {ofa_key(n): n for n in shapes}
    bn_modules = {c.rsplit(".", 1)[0] for c in expected if c.endswith(".bn.running_mean")}
    missing = [c for c in expected if c not in canon]
    unexpected = [c for c in canon if c not in expected
                  and not (c.endswith(".num_batches_tracked") and c.rsplit(".", 1)[0] in bn_modules)]
    wrong = [c for c in expected if c in canon and _shape(canon[c][1]) != shapes[expected[c]]]
    counts = ", ".join(f"{n} {k}" for n, k in ((len(missing), "missing"), (len(unexpected), "unexpected"),
                                               (len(wrong), "wrong shape")) if n)
    if len(missing) == len(expected):
        raise ConversionError(f"{path}: no key of {what} found (first key in the file: {next(iter(sd))!r}); "
                              f"supported: {SUPPORTED}")
    if wrong:
        c = wrong[0]
        raise ConversionError(f"{path}: key {canon[c][0]!r} has shape {_shape(canon[c][1])}, {what} needs "
                              f"{shapes[expected[c]]} ({counts}); {_hint(canon, arch, width_mult, n_classes)}")
    if missing:
        c = missing[0]
        raise ConversionError(f"{path}: missing key {spelling.spell(c)!r} (shape {shapes[expected[c]]}) of {what} "
                              f"({counts}); the checkpoint is truncated or not {SUPPORTED.split(';')[0]}")
    if unexpected:
        key, t = canon[unexpected[0]]
        raise ConversionError(f"{path}: unexpected key {key!r} (shape {_shape(t)}), not part of {what} ({counts}); "
                              f"is it another OFA family or a different depth/kernel/expand list? Supported: "
                              f"{SUPPORTED}")
    weights = {}
    for c, name in expected.items():
        key, t = canon[c]
        if not t.is_floating_point():
            raise ConversionError(f"{path}: key {key!r} has dtype {t.dtype}; weights must be floating point")
        array = t.detach().to(torch.float32).contiguous().numpy()
        if not np.isfinite(array).all():
            raise ConversionError(f"{path}: key {key!r} holds NaN or infinite values; the checkpoint is damaged")
        if name.endswith("running_var") and (array < 0).any():
            raise ConversionError(f"{path}: key {key!r} holds negative batch-norm variances; the checkpoint is "
                                  "damaged")
        weights[name] = array
    return weights


# ---- operating points ----

def default_operating_points(arch, input_spec):
    """The smallest, a middle and the largest sub-network, all on the supernet's BN statistics."""
    res = input_spec["resolutions"]
    ks, es, ds = arch["ks_list"], arch["expand_ratio_list"], arch["depth_list"]
    middle = min(res, key=lambda r: abs(r - 192))
    configs = [("smallest", min(ks), min(es), min(ds), min(res)),
               ("middle", ks[len(ks) // 2], es[len(es) // 2], ds[len(ds) // 2], middle),
               ("largest", max(ks), max(es), max(ds), max(res))]
    return [{"name": n, "config": A.normalise_config(arch, {"ks": k, "e": e, "d": d, "r": r})}
            for n, k, e, d, r in configs]


def _level_config(level, arch, input_spec, where):
    raw = level.get("config", level.get("net_config", level))
    if not isinstance(raw, dict) or not all(k in raw for k in ("ks", "e", "d", "r")):
        raise ConversionError(f"{where}: needs a config {{ks, e, d, r}} (OFA's dict form)")
    raw = dict(raw)
    if isinstance(raw["r"], (list, tuple)):  # OFA's searches store the resolution as a one-element list
        if len(raw["r"]) != 1:
            raise ConversionError(f"{where}: r={raw['r']}: one resolution per level")
        raw["r"] = raw["r"][0]
    try:
        config = A.normalise_config(arch, {k: raw[k] for k in ("ks", "e", "d", "r")})
    except (ValueError, TypeError) as e:
        raise ConversionError(f"{where}: {e}") from None
    if config["r"] not in input_spec["resolutions"]:
        raise ConversionError(f"{where}: resolution {config['r']} is not one the supernet supports "
                              f"({min(input_spec['resolutions'])}..{max(input_spec['resolutions'])}, step 4)")
    return config


def _static_block_index(arch, config):
    """Static sub-network block number -> supernet block number (OFA renumbers the blocks it keeps)."""
    out = {0: 0}
    for k, (i, _b, _k, _e) in enumerate(A.active_blocks(arch, config), start=1):
        out[k] = i
    return out


def load_bn_stats(path, arch, config, where, trust_pickle=False):
    """Per-subnet BN statistics from a state dict file: `<module>.running_mean` / `running_var` entries in any
    accepted spelling. Numbering: as in OFA's static sub-network (blocks renumbered 0..sum(d), each BN exactly
    the sub-network's width) when the file's block numbers are exactly those, else as in the supernet (entries
    may be full width; the first channels are used). Returns {dyndnn bn layer: (mean, var)}."""
    sd = extract_state_dict(load_tensor_file(path, trust_pickle), path)
    found = {}
    for key, t in sd.items():
        c = canonical(key)
        if c.endswith(".running_mean") or c.endswith(".running_var"):
            found[c] = (key, t)
    renumber = _static_block_index(arch, config)  # static number -> supernet number
    blocks_in_file = {int(c.split(".")[1]) for c in found if c.startswith("blocks.") and c.split(".")[1].isdigit()}
    static = blocks_in_file == set(renumber)
    to_file = {v: k for k, v in renumber.items()} if static else {i: i for i in renumber.values()}
    numbering = "static sub-network" if static else "supernet"
    out = {}
    for layer, channels in A.bn_layers(arch, config).items():
        pair = []
        for field in ("running_mean", "running_var"):
            parts = ofa_key(f"{layer}.bn.{field}").split(".")
            if parts[0] == "blocks":
                parts[1] = str(to_file[int(parts[1])])
            c = ".".join(parts)
            if c not in found:
                raise ConversionError(f"{where}: {path}: no entry for {c!r} ({numbering} block numbering; the "
                                      f"statistics must cover every BN of the level's sub-network)")
            key, t = found[c]
            if t.dim() != 1 or (t.shape[0] != channels if static else t.shape[0] < channels):
                need = f"[{channels}]" if static else f"at least [{channels}]"
                raise ConversionError(f"{where}: {path}: entry {key!r} has shape {list(t.shape)}, the level's "
                                      f"sub-network needs {need} ({numbering} block numbering)")
            array = t.detach().to(torch.float32)[:channels].numpy().copy()
            if not np.isfinite(array).all() or (field == "running_var" and (array < 0).any()):
                raise ConversionError(f"{where}: {path}: entry {key!r} holds non-finite or negative values")
            pair.append(array)
        out[layer] = tuple(pair)
    return out


def load_levels(path, arch, input_spec, trust_pickle=False):
    """A Dynamic-OFA-style JSON list of levels -> operating points.

    Each level: {"name", "config": {ks, e, d, r} (or ks/e/d/r at the top level; r may be [r]),
    optional "accuracy" (top-1 %), optional "latency_ms", optional "bn_stats": file path (relative to the JSON)}.
    A {"levels": [...]} object is accepted too."""
    try:
        with open(path) as f:
            levels = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ConversionError(f"{path}: cannot read the levels JSON: {e}") from None
    if isinstance(levels, dict) and isinstance(levels.get("levels"), list):
        levels = levels["levels"]
    if not isinstance(levels, list) or not levels:
        raise ConversionError(f"{path}: must be a non-empty JSON list of levels")
    base = os.path.dirname(os.path.abspath(path))
    ops, names = [], set()
    for i, level in enumerate(levels):
        where = f"{path}: level #{i}"
        if not isinstance(level, dict):
            raise ConversionError(f"{where}: must be an object")
        name = str(level.get("name", f"level{i}"))
        if not name or name in names:
            raise ConversionError(f"{where}: name {name!r} is empty or used twice")
        names.add(name)
        where = f"{path}: level {name!r}"
        op = {"name": name, "config": _level_config(level, arch, input_spec, where), "metrics": {}}
        for src, dst in (("accuracy", "accuracy"), ("top1", "accuracy"), ("latency_ms", "latency_ms")):
            if level.get(src) is not None:
                value = level[src]
                if not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ConversionError(f"{where}: {src} must be a number")
                op["metrics"][dst] = float(value)
        if level.get("bn_stats"):
            stats_path = os.path.join(base, level["bn_stats"])
            op["bn_stats"] = load_bn_stats(stats_path, arch, op["config"], where, trust_pickle)
        ops.append(op)
    return ops


# ---- the whole conversion ----

def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(in_path, out_path, width_mult=1.0, n_classes=1000, levels_path=None, trust_pickle=False):
    """Validate and convert; returns a summary dict. Raises ConversionError."""
    if width_mult not in WIDTHS:
        raise ConversionError(f"--width-mult {width_mult}: the published supernets are w1.0 and w1.2")
    if n_classes < 1:
        raise ConversionError(f"--n-classes {n_classes}: must be positive")
    arch = A.ofa_mbv3(width_mult, n_classes=n_classes)
    input_spec = A.imagenet_input(width_mult=width_mult)
    sd = extract_state_dict(load_tensor_file(in_path, trust_pickle), in_path)
    weights = validate(sd, arch, width_mult, in_path)
    if levels_path:
        ops = load_levels(levels_path, arch, input_spec, trust_pickle)
    else:
        ops = default_operating_points(arch, input_spec)
    naming = "mobile_inverted_conv" if Spelling(list(sd)).legacy else "conv"
    note = (f"converted from the OFA MBv3 w{width_mult} checkpoint {os.path.basename(in_path)} "
            f"(sha256 {_sha256(in_path)}) by tools/convert_ofa.py")
    package.write(out_path, arch, weights, input_spec, ops, extra_metadata={"note": note})
    return {"tensors": len(weights), "values": int(sum(w.size for w in weights.values())),
            "ignored": len(sd) - len(weights), "naming": naming, "operating_points": ops,
            "width_mult": width_mult, "n_classes": n_classes, "resolutions": input_spec["resolutions"]}
