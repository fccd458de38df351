"""tools/convert_ofa.py: published OFA MBv3 checkpoints (generated with the exact key layout) -> .dyn -> dyndnn,
compared with the Python reference forward; malformed checkpoints are refused with a message naming the key."""
import collections
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from dyndnn_tools import arch as A
from dyndnn_tools import ofa_checkpoint, ofa_convert, package, random_package, reference

SOURCE = os.environ.get("DYNDNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(SOURCE, "tools", "convert_ofa.py")

try:
    import dyndnn
except ImportError:  # run outside ctest: use the default build tree
    sys.path.insert(0, os.path.join(SOURCE, os.environ.get("DYNDNN_BUILD_DIR", "build"), "python"))
    import dyndnn

N_CLASSES = 10  # a small classifier keeps the files and the tests small; the rest is the full-size supernet


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def compare(model, weights, arch, config, seed, bn_stats=None):
    """dyndnn's output vs the reference for two random inputs; the output must depend on the input."""
    gen = torch.Generator().manual_seed(seed)
    r = config["r"]
    x, y = torch.randn(1, 3, r, r, generator=gen), torch.randn(1, 3, r, r, generator=gen)
    with torch.no_grad():
        ref_x = reference.forward(weights, arch, config, x, bn_stats)[0].numpy()
        ref_y = reference.forward(weights, arch, config, y, bn_stats)[0].numpy()
    assert rel(model.infer(x.numpy()), ref_x) < 1e-4
    assert rel(model.infer(y.numpy()), ref_y) < 1e-4
    assert rel(ref_y, ref_x) > 1e-2, "input washed out: the comparison would prove nothing"


# ---- the generator states the published layout ----

def test_generated_checkpoint_has_the_published_layout():
    arch = A.ofa_mbv3(1.0)
    zero = {n: torch.zeros(s) for n, s in A.tensor_shapes(arch).items()}
    sd = ofa_checkpoint.state_dict(arch, zero, "current")
    assert len(sd) == 475 and sum(t.numel() for t in sd.values()) == 7720704 + 64
    for key in ("first_conv.conv.weight", "first_conv.bn.num_batches_tracked", "blocks.0.conv.depth_conv.conv.weight",
                "blocks.0.conv.point_linear.bn.running_var", "blocks.1.conv.inverted_bottleneck.conv.conv.weight",
                "blocks.1.conv.inverted_bottleneck.bn.bn.running_mean", "blocks.20.conv.depth_conv.conv.conv.weight",
                "blocks.20.conv.depth_conv.conv.7to5_matrix", "blocks.20.conv.depth_conv.conv.5to3_matrix",
                "blocks.20.conv.depth_conv.bn.bn.num_batches_tracked", "blocks.20.conv.depth_conv.se.fc.reduce.bias",
                "blocks.20.conv.depth_conv.se.fc.expand.weight", "blocks.20.conv.point_linear.conv.conv.weight",
                "final_expand_layer.conv.weight", "final_expand_layer.bn.bias", "feature_mix_layer.conv.weight",
                "classifier.linear.weight", "classifier.linear.bias"):
        assert key in sd, key
    assert list(sd["blocks.20.conv.depth_conv.conv.conv.weight"].shape) == [960, 1, 7, 7]
    assert list(sd["blocks.5.conv.depth_conv.conv.7to5_matrix"].shape) == [25, 25]
    assert list(sd["blocks.5.conv.depth_conv.conv.5to3_matrix"].shape) == [9, 9]
    assert sd["first_conv.bn.num_batches_tracked"].dtype == torch.int64
    assert sd["first_conv.bn.num_batches_tracked"].dim() == 0
    assert not any(k.startswith("blocks.1.conv.depth_conv.se") for k in sd)  # SE only in stages 40/112/160
    legacy = ofa_checkpoint.state_dict(arch, zero, "legacy")
    assert [k.replace(".mobile_inverted_conv.", ".conv.") for k in legacy] == list(sd)
    assert "blocks.7.mobile_inverted_conv.depth_conv.conv.7to5_matrix" in legacy
    w12 = A.ofa_mbv3(1.2)
    sd12 = ofa_checkpoint.state_dict(w12, {n: torch.zeros(s) for n, s in A.tensor_shapes(w12).items()}, "legacy")
    assert len(sd12) == 475 and list(sd12["first_conv.conv.weight"].shape) == [24, 3, 3, 3]


# ---- conversion, then dyndnn against the reference ----

CASES = [  # seed, width, naming, wrapped in {'state_dict': ...}, through the command line
    (1, 1.0, "legacy", True, True),
    (2, 1.0, "current", False, False),
    (3, 1.0, "aliased", True, False),
    (4, 1.2, "current", True, False),
    (5, 1.2, "legacy", False, True),
]


@pytest.mark.parametrize("seed,width,naming,wrapped,cli", CASES,
                         ids=[f"w{w}-{n}-{'wrapped' if s else 'bare'}-{'cli' if c else 'api'}"
                              for _, w, n, s, c in CASES])
def test_converted_checkpoint_matches_reference(tmp_path, seed, width, naming, wrapped, cli):
    arch = A.ofa_mbv3(width, n_classes=N_CLASSES)
    spec = A.imagenet_input(width_mult=width)
    config = A.normalise_config(arch, A.random_config(arch, [min(spec["resolutions"])], random.Random(seed)))
    ckpt, dyn = tmp_path / "ofa.pth", tmp_path / "ofa.dyn"
    arch, weights = ofa_checkpoint.write(ckpt, width, N_CLASSES, seed, naming, calibrate_for=config, wrapped=wrapped)
    if cli:
        r = run_tool(ckpt, dyn, "--width-mult", width, "--n-classes", N_CLASSES)
        assert r.returncode == 0, r.stderr
        assert f"wrote {dyn}" in r.stdout and "411 tensors" in r.stdout and "3 operating points" in r.stdout
    else:
        ofa_convert.convert(str(ckpt), str(dyn), width, N_CLASSES)
    meta, _, _ = package.read(dyn)
    assert meta["arch"] == arch
    assert meta["input"] == {"channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                             "resolutions": list(range(128 if width == 1.0 else 160, 225, 4)), "crop_ratio": 0.875}
    model = dyndnn.DynamicModel(str(dyn), threads=1)
    ops = model.operating_points
    assert [op["name"] for op in ops] == ["smallest", "middle", "largest"]
    assert ops[0]["config"] == A.normalise_config(arch, dict(ks=3, e=3, d=2, r=min(spec["resolutions"])))
    assert ops[2]["config"] == A.normalise_config(arch, dict(ks=7, e=6, d=4, r=224))
    assert not any(op["bn_stats"] for op in ops)
    assert model.num_classes == N_CLASSES
    model.set_subnet(config)
    compare(model, weights, arch, config, seed)


def test_levels_become_operating_points(tmp_path):
    """Dynamic-OFA-style levels: accuracy, per-level BN statistics in the static sub-network's numbering (torch,
    legacy spelling) and in the supernet's (safetensors, full width), and a level on the supernet statistics."""
    arch = A.ofa_mbv3(1.0, n_classes=N_CLASSES)
    rng, gen = random.Random(5), torch.Generator().manual_seed(5)
    configs = [A.normalise_config(arch, A.random_config(arch, [128, 132], rng)) for _ in range(2)]
    configs[0]["d"] = [2, 3, 4, 2, 3]  # static numbering differs from the supernet's
    ckpt = tmp_path / "ofa.pth"
    arch, weights = ofa_checkpoint.write(ckpt, 1.0, N_CLASSES, 5, "legacy", calibrate_for=configs[1])
    stats = [random_package.calibrate(weights, arch, c, gen) for c in configs]

    # level a: static sub-network numbering, OFA's static spelling (blocks renumbered, single bn.)
    static = {}
    for k, (i, _b, _k, _e) in enumerate(A.active_blocks(arch, configs[0]), start=1):
        for layer in ("inverted_bottleneck", "depth_conv", "point_linear"):
            mean, var = stats[0][f"blocks.{i}.{layer}"]
            static[f"blocks.{k}.mobile_inverted_conv.{layer}.bn.running_mean"] = mean
            static[f"blocks.{k}.mobile_inverted_conv.{layer}.bn.running_var"] = var
            static[f"blocks.{k}.mobile_inverted_conv.{layer}.conv.weight"] = torch.zeros(1)  # ignored
    for layer, prefix in (("first_conv", "first_conv"), ("blocks.0.depth_conv", "blocks.0.mobile_inverted_conv."
                                                                                  "depth_conv"),
                          ("blocks.0.point_linear", "blocks.0.mobile_inverted_conv.point_linear"),
                          ("final_expand_layer", "final_expand_layer")):
        static[f"{prefix}.bn.running_mean"], static[f"{prefix}.bn.running_var"] = stats[0][layer]
    torch.save({"state_dict": static}, tmp_path / "a_bn.pth")
    # level b: supernet numbering, every BN at full width (only the prefix is used)
    full = {}
    for key, ours in ofa_checkpoint.layout(arch, "current"):
        if ours and (ours.endswith("running_mean") or ours.endswith("running_var")):
            t = weights[ours].clone()
            layer = ours.rsplit(".bn.", 1)[0]
            if layer in stats[1]:
                value = stats[1][layer][0 if ours.endswith("mean") else 1]
                t[:value.shape[0]] = value
            full[key] = t.numpy()
    from dyndnn_tools import safetensors_io
    safetensors_io.write(tmp_path / "b_bn.safetensors", full)
    levels = [{"name": "a", "config": configs[0], "accuracy": 71.5, "bn_stats": "a_bn.pth"},
              {"name": "b", **{k: v for k, v in configs[1].items() if k != "r"}, "r": [configs[1]["r"]],
               "accuracy": 74.25, "latency_ms": 12.5, "bn_stats": "b_bn.safetensors"},
              {"name": "c", "config": dict(ks=5, e=4, d=3, r=176)}]
    (tmp_path / "levels.json").write_text(json.dumps(levels))
    dyn = tmp_path / "levels.dyn"
    summary = ofa_convert.convert(str(ckpt), str(dyn), 1.0, N_CLASSES, str(tmp_path / "levels.json"))
    assert [op["name"] for op in summary["operating_points"]] == ["a", "b", "c"]
    meta, _, stored = package.read(dyn)
    assert meta["operating_points"][1]["metrics"]["latency_ms"] == 12.5
    model = dyndnn.DynamicModel(str(dyn), threads=1)
    ops = model.operating_points
    assert [(op["name"], op["bn_stats"], op["accuracy"]) for op in ops] == \
           [("a", True, 71.5), ("b", True, 74.25), ("c", False, None)]
    assert ops[1]["config"] == configs[1]
    for i, name in enumerate("ab"):
        model.set_subnet(name)
        assert model.active_config == configs[i]
        compare(model, weights, arch, configs[i], 50 + i, stats[i])


# ---- malformed checkpoints ----

@pytest.fixture(scope="module")
def plain_state_dicts():
    """Uncalibrated legacy-named state dicts (values do not matter for validation)."""
    out = {}
    for width in (1.0, 1.2):
        arch = A.ofa_mbv3(width, n_classes=N_CLASSES)
        values = {n: torch.rand(s) for n, s in A.tensor_shapes(arch).items()}
        out[width] = ofa_checkpoint.state_dict(arch, values, "legacy")
    return out


def _modified(sd, drop=(), add=None):
    out = {k: v for k, v in sd.items() if k not in drop}
    out.update(add or {})
    return out


BAD = {
    # name: (width of the checkpoint, --width-mult, --n-classes, edit, expected words)
    "missing": (1.0, 1.0, N_CLASSES, lambda sd: _modified(sd, drop={"blocks.7.mobile_inverted_conv.depth_conv.conv."
                                                                    "7to5_matrix"}),
                ["missing key", "'blocks.7.mobile_inverted_conv.depth_conv.conv.7to5_matrix'", "[25, 25]"]),
    "wrong_shape": (1.0, 1.0, N_CLASSES, lambda sd: _modified(sd, add={
        "blocks.3.mobile_inverted_conv.inverted_bottleneck.conv.conv.weight": torch.zeros(144, 16, 1, 1)}),
        ["'blocks.3.mobile_inverted_conv.inverted_bottleneck.conv.conv.weight'", "[144, 16, 1, 1]",
         "needs [144, 24, 1, 1]"]),
    "unexpected": (1.0, 1.0, N_CLASSES, lambda sd: _modified(sd, add={
        "blocks.21.mobile_inverted_conv.point_linear.conv.conv.weight": torch.zeros(160, 960, 1, 1)}),
        ["unexpected key", "'blocks.21.mobile_inverted_conv.point_linear.conv.conv.weight'"]),
    "wrong_width": (1.2, 1.0, N_CLASSES, lambda sd: sd,
                    ["'first_conv.conv.weight'", "[24, 3, 3, 3]", "[16, 3, 3, 3]", "--width-mult 1.2"]),
    "wrong_classes": (1.0, 1.0, 1000, lambda sd: sd,
                      ["'classifier.linear.weight'", "[10, 1280]", "[1000, 1280]", "--n-classes 10"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_checkpoint_exits_1_naming_the_key(tmp_path, plain_state_dicts, case):
    width, flag, classes, edit, words = BAD[case]
    sd = edit(dict(plain_state_dicts[width]))
    ckpt = tmp_path / "bad.pth"
    torch.save({"state_dict": sd}, ckpt)
    r = run_tool(ckpt, tmp_path / "bad.dyn", "--width-mult", flag, "--n-classes", classes)
    assert r.returncode == 1, (r.stdout, r.stderr)
    message = r.stderr.strip()
    assert message.startswith("convert_ofa: error:") and len(message.splitlines()) == 1, message
    for w in words:
        assert w in message, (w, message)
    assert not (tmp_path / "bad.dyn").exists()


def test_validation_errors_name_the_key(tmp_path, plain_state_dicts):
    arch = A.ofa_mbv3(1.0, n_classes=N_CLASSES)
    sd = plain_state_dicts[1.0]
    key = "blocks.9.mobile_inverted_conv.depth_conv.bn.bn.running_var"

    def refused(state, *words):
        with pytest.raises(ofa_convert.ConversionError) as e:
            ofa_convert.validate(state, arch, 1.0, "x.pth")
        for w in words:
            assert w in str(e.value), (w, str(e.value))

    refused(_modified(sd, add={key: torch.full_like(sd[key], float("nan"))}), repr(key), "NaN")
    refused(_modified(sd, add={key: -sd[key]}), repr(key), "negative")
    refused(_modified(sd, add={"classifier.linear.bias": torch.zeros(N_CLASSES, dtype=torch.int32)}),
            "'classifier.linear.bias'", "torch.int32")
    doubled = "blocks.9.mobile_inverted_conv.depth_conv.bn.running_var"
    refused(_modified(sd, add={doubled: sd[key]}), repr(key), repr(doubled), "two ways")
    refused({"fc.weight": torch.zeros(3)}, "no key of", "'fc.weight'")
    # a missing key is named in the checkpoint's own spelling
    aliased = ofa_checkpoint.state_dict(arch, {n: torch.rand(s) for n, s in A.tensor_shapes(arch).items()}, "aliased")
    refused(_modified(aliased, drop={"blocks.4.mobile_inverted_conv.point_linear.bn.weight"}),
            "missing key 'blocks.4.mobile_inverted_conv.point_linear.bn.weight'")
    current = {k.replace(".mobile_inverted_conv.", ".conv."): v for k, v in sd.items()}
    refused(_modified(current, drop={"blocks.4.conv.point_linear.conv.conv.weight"}),
            "missing key 'blocks.4.conv.point_linear.conv.conv.weight'", "[24, 144, 1, 1]")
    # a DataParallel prefix and the current naming are fine
    prefixed = {f"module.{k}": v for k, v in sd.items()}
    weights = ofa_convert.validate(ofa_convert.extract_state_dict(prefixed, "x.pth"), arch, 1.0, "x.pth")
    assert set(weights) == set(A.tensor_shapes(arch))
    with pytest.raises(ofa_convert.ConversionError, match="'epoch' is of type int"):
        ofa_convert.extract_state_dict({**sd, "epoch": 3}, "x.pth")
    with pytest.raises(ofa_convert.ConversionError, match="w1.0 and w1.2"):
        ofa_convert.convert("x.pth", str(tmp_path / "x.dyn"), width_mult=0.75)
    with pytest.raises(ofa_convert.ConversionError, match="no such file"):
        ofa_convert.convert(str(tmp_path / "absent.pth"), str(tmp_path / "x.dyn"))


def test_pickle_code_needs_trust(tmp_path):
    """weights_only loading refuses objects other than tensors and containers; --trust-pickle unpickles fully."""
    path = tmp_path / "odd.pth"
    torch.save({"state_dict": {"first_conv.conv.weight": torch.zeros(16, 3, 3, 3)},
                "history": collections.Counter(a=1)}, path)
    with pytest.raises(ofa_convert.ConversionError, match="--trust-pickle"):
        ofa_convert.load_tensor_file(str(path))
    assert isinstance(ofa_convert.load_tensor_file(str(path), trust_pickle=True)["history"], collections.Counter)


def test_bad_levels_are_refused(tmp_path, plain_state_dicts):
    arch = A.ofa_mbv3(1.0, n_classes=N_CLASSES)
    spec = A.imagenet_input(width_mult=1.0)

    def refused(levels, *words):
        path = tmp_path / "levels.json"
        path.write_text(json.dumps(levels))
        with pytest.raises(ofa_convert.ConversionError) as e:
            ofa_convert.load_levels(str(path), arch, spec)
        for w in words:
            assert w in str(e.value), (w, str(e.value))

    good = dict(ks=3, e=3, d=2, r=160)
    refused([{"name": "x", "config": {**good, "r": 100}}], "level 'x'", "resolution 100")
    refused([{"name": "x", "config": {**good, "ks": 4}}], "level 'x'", "ks")
    refused([{"name": "x", "config": good}, {"name": "x", "config": good}], "used twice")
    refused([{"name": "x", "config": {"ks": 3}}], "{ks, e, d, r}")
    refused([{"name": "x", "config": good, "accuracy": "high"}], "accuracy must be a number")
    refused([], "non-empty")
    torch.save({"first_conv.bn.running_mean": torch.zeros(16)}, tmp_path / "partial.pth")
    refused([{"name": "x", "config": good, "bn_stats": "partial.pth"}], "partial.pth", "no entry for",
            "first_conv.bn.running_var")
