"""The .dyn package: a safetensors file whose __metadata__["dyndnn"] holds dyndnn's JSON.

JSON fields: format ("dyndnn"), format_version, family, arch (see arch.py), input (channels, mean, std,
resolutions, crop_ratio), operating_points (name, config {ks, e, d, r}, bn_stats, metrics).
__metadata__["dyndnn_crc32"] is a checksum (see checksum()).
Per-subnet BN statistics of operating point i are tensors "op.<i>.<bn layer>.running_{mean,var}".
"""
import json
import zlib

import numpy as np

from . import arch as ofa_arch
from . import elastic_vit, group_cnn
from . import safetensors_io

FORMAT_VERSION = 1
METADATA_KEY = "dyndnn"
CHECKSUM_KEY = "dyndnn_crc32"


def bn_stat_tensors(index, stats):
    """{bn layer: (mean, var)} of operating point `index` -> tensor name -> array."""
    out = {}
    for layer, (mean, var) in stats.items():
        out[f"op.{index}.{layer}.running_mean"] = np.asarray(mean, np.float32)
        out[f"op.{index}.{layer}.running_var"] = np.asarray(var, np.float32)
    return out


def family_of(arch):
    """The module that knows `arch`'s family: tensor_shapes, normalise_config, cost, FAMILY (and bn_layers when it
    keeps per-subnet BN statistics). OFA-MobileNetV3 specs carry no family field."""
    return {group_cnn.FAMILY: group_cnn, elastic_vit.FAMILY: elastic_vit}.get(arch.get("family"), ofa_arch)


def write(path, arch, weights, input_spec, operating_points=(), extra_metadata=None):
    """Write a package.

    weights: name -> array of every tensor in the family's tensor_shapes(arch).
    operating_points: dicts with name, config, optional bn_stats ({layer: (mean, var)}) and metrics.
    """
    A = family_of(arch)
    shapes = A.tensor_shapes(arch)
    missing = sorted(set(shapes) - set(weights))
    extra = sorted(set(weights) - set(shapes))
    if missing or extra:
        raise ValueError(f"weights do not match the architecture: missing {missing[:5]}, unexpected {extra[:5]}")
    tensors = {}
    for name, shape in shapes.items():
        array = np.asarray(weights[name], dtype=np.float32)
        if list(array.shape) != shape:
            raise ValueError(f"tensor {name}: shape {list(array.shape)}, the architecture needs {shape}")
        tensors[name] = array
    ops_json = []
    for index, op in enumerate(operating_points):
        config = A.normalise_config(arch, op["config"])
        macs, params = A.cost(arch, config)
        metrics = {"macs": macs, "params": params}
        metrics.update(op.get("metrics", {}))
        entry = {"name": op["name"], "config": config, "bn_stats": bool(op.get("bn_stats")), "metrics": metrics}
        if op.get("bn_stats"):
            expected = A.bn_layers(arch, config)
            if set(op["bn_stats"]) != set(expected):
                raise ValueError(f"operating point {op['name']}: BN statistics must cover exactly {sorted(expected)}")
            tensors.update(bn_stat_tensors(index, op["bn_stats"]))
        ops_json.append(entry)
    meta = {"format": "dyndnn", "format_version": FORMAT_VERSION, "family": A.FAMILY, "arch": arch,
            "input": input_spec, "operating_points": ops_json}
    if extra_metadata:
        meta.update(extra_metadata)
    meta_text = json.dumps(meta)
    entries, data = safetensors_io.layout(tensors)
    safetensors_io.write_layout(path, entries, data, {METADATA_KEY: meta_text,
                                                      CHECKSUM_KEY: checksum(entries, meta_text, data)})


def checksum(entries, meta_text, data):
    """CRC-32 (zlib's) of the tensor table, the dyndnn JSON and the data section, as 8 hex digits: any
    flipped byte outside the checksum itself is caught when the package is opened."""
    crc = zlib.crc32(safetensors_io.table_string(entries).encode())
    crc = zlib.crc32(meta_text.encode(), crc)
    return f"{zlib.crc32(data, crc):08x}"


def read(path):
    """Return (meta, weights, op_bn_stats) where op_bn_stats[i] = {layer: (mean, var)}."""
    tensors, metadata = safetensors_io.read(path)
    meta = json.loads(metadata[METADATA_KEY])
    weights = {k: v for k, v in tensors.items() if not k.startswith("op.")}
    stats = {}
    for name, array in tensors.items():
        if name.startswith("op."):
            _, index, rest = name.split(".", 2)
            layer, field = rest.rsplit(".", 1)
            slot = 0 if field == "running_mean" else 1
            entry = stats.setdefault(int(index), {}).setdefault(layer, [None, None])
            entry[slot] = array
    return meta, weights, {i: {k: tuple(v) for k, v in s.items()} for i, s in stats.items()}
