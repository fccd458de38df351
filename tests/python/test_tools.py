"""The Python tools: safetensors I/O, package writer/reader, architecture counts."""
import json
import struct

import numpy as np
import pytest

from dyndnn_tools import arch as A
from dyndnn_tools import package, random_package, safetensors_io


def test_safetensors_roundtrip_and_layout(tmp_path):
    tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2, 3], np.uint8),
               "c": np.zeros((0, 4), np.float32)}
    path = tmp_path / "x.safetensors"
    safetensors_io.write(path, tensors, {"k": "v"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"k": "v"}
    assert (8 + n) % safetensors_io.ALIGNMENT == 0
    back, meta = safetensors_io.read(path)
    assert meta == {"k": "v"}
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)


def test_published_counts():
    arch = A.ofa_mbv3(1.0)
    assert A.cost(arch, A.normalise_config(arch, dict(ks=7, e=6, d=4, r=224))) == (566170656, 7664760)
    assert A.cost(arch, A.normalise_config(arch, dict(ks=3, e=3, d=2, r=160))) == (63240528, 3410792)
    assert sum(int(np.prod(s)) for s in A.tensor_shapes(arch).values()) == 7720704


def test_width_1_2_layout():
    arch = A.ofa_mbv3(1.2)
    widths = [arch["stem"]["width"], arch["first_block"]["width"]] + [s["width"] for s in arch["stages"]]
    assert widths + [arch["final_expand"], arch["feature_mix"]] == [24, 24, 32, 48, 96, 136, 192, 1152, 1536]


def test_config_validation():
    arch = A.ofa_mbv3(1.0)
    with pytest.raises(ValueError, match="ks"):
        A.normalise_config(arch, dict(ks=4, e=6, d=4, r=224))
    with pytest.raises(ValueError, match="need 5 values"):
        A.normalise_config(arch, dict(ks=7, e=6, d=[4, 4], r=224))


def test_package_roundtrip(tmp_path):
    arch, spec, weights, ops = random_package.make("fmnist", 2, seed=5)
    path = tmp_path / "p.dyn"
    random_package.write(path, "fmnist", 2, seed=5)
    meta, back, stats = package.read(path)
    assert meta["family"] == A.FAMILY and meta["arch"] == arch and len(meta["operating_points"]) == 2
    for name, value in weights.items():
        np.testing.assert_array_equal(back[name], value.numpy())
    assert set(stats[0]) == set(A.bn_layers(arch, ops[0]["config"]))


def test_writer_rejects_wrong_shapes(tmp_path):
    arch, spec, weights, _ = random_package.make("fmnist", 0, seed=5)
    weights = {k: v.numpy() for k, v in weights.items()}
    weights["classifier.bias"] = np.zeros(11, np.float32)
    with pytest.raises(ValueError, match="classifier.bias"):
        package.write(tmp_path / "bad.dyn", arch, weights, spec)
