"""The Python binding against the reference forward, on random sub-networks given as OFA config dicts."""
import os
import random
import threading

import numpy as np
import pytest
import torch

import dyndnn
from dyndnn_tools import arch as A
from dyndnn_tools import package, random_package, reference


@pytest.fixture(scope="module")
def w10(request):
    path = os.path.join(os.environ["DYNDNN_FIXTURE_DIR"], "ofa_w1.0.dyn")
    meta, weights, stats = package.read(path)
    return path, meta, {k: torch.from_numpy(v) for k, v in weights.items()}


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_operating_points_listed(w10):
    path, meta, _ = w10
    model = dyndnn.DynamicModel(path, threads=2)
    ops = model.operating_points
    assert [op["name"] for op in ops] == [op["name"] for op in meta["operating_points"]]
    assert ops[0]["macs"] == A.cost(meta["arch"], ops[0]["config"])[0]
    assert model.num_classes == 1000


def test_random_config_dicts_match_reference(w10, tmp_path):
    """Explicit configs run on the supernet's own BN statistics: for each random config, write a package
    whose supernet statistics are calibrated for it (else random weights wash the input out)."""
    _, meta, weights = w10
    arch = meta["arch"]
    rng = random.Random(11)
    gen = torch.Generator().manual_seed(11)
    for i in range(3):
        config = A.normalise_config(arch, A.random_config(arch, meta["input"]["resolutions"], rng))
        calibrated = {k: v.clone() for k, v in weights.items()}
        for layer, (mean, var) in random_package.calibrate(weights, arch, config, gen).items():
            calibrated[f"{layer}.bn.running_mean"][:mean.shape[0]] = mean
            calibrated[f"{layer}.bn.running_var"][:var.shape[0]] = var
        path = tmp_path / f"c{i}.dyn"
        package.write(path, arch, {k: v.numpy() for k, v in calibrated.items()}, meta["input"])
        model = dyndnn.DynamicModel(str(path), threads=2)
        model.set_subnet(config)
        assert model.active_config == config and model.active_name == ""
        r = config["r"]
        x, y = torch.randn(1, 3, r, r, generator=gen), torch.randn(1, 3, r, r, generator=gen)
        with torch.no_grad():
            ref_x = reference.forward(calibrated, arch, config, x)[0].numpy()
            ref_y = reference.forward(calibrated, arch, config, y)[0].numpy()
        assert rel(model.infer(x.numpy()), ref_x) < 1e-4
        assert rel(ref_y, ref_x) > 2e-3, "input washed out: the comparison would prove nothing"


def test_scalar_config_and_errors(w10):
    path, _, _ = w10
    model = dyndnn.DynamicModel(path)
    model.set_subnet({"ks": 3, "e": 3, "d": 2, "r": 160})
    assert model.active_config["ks"] == [3] * 20
    assert model.infer(np.zeros((1, 3, 100, 120), np.float32)).shape == (1, 1000)
    with pytest.raises(ValueError, match="'ks'\\[0\\] = 4"):
        model.set_subnet({"ks": 4, "e": 3, "d": 2, "r": 160})
    with pytest.raises(ValueError, match="no operating point named"):
        model.set_subnet("nope")
    with pytest.raises(ValueError, match="float32"):
        model.infer(np.zeros((1, 3, 8, 8), np.float64))
    with pytest.raises(ValueError, match="channels"):
        model.infer(np.zeros((1, 2, 8, 8), np.float32))
    with pytest.raises(OSError):
        dyndnn.DynamicModel("/nonexistent.dyn")


def test_uint8_image(fixture_dir):
    path = os.path.join(fixture_dir, "fmnist.dyn")
    meta, weights, stats = package.read(path)
    model = dyndnn.DynamicModel(path)
    op = meta["operating_points"][3]
    model.set_subnet(op["name"])
    img = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    x = reference.preprocess_image(img, meta["input"], op["config"]["r"])
    w = {k: torch.from_numpy(v) for k, v in weights.items()}
    with torch.no_grad():
        own = {k: (torch.from_numpy(m), torch.from_numpy(v)) for k, (m, v) in stats[3].items()}
        ref = reference.forward(w, meta["arch"], op["config"], x, own)[0].numpy()
    assert rel(model.infer(img), ref) < 1e-4


def test_infer_from_threads_while_switching(fixture_dir):
    model = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
    names = [op["name"] for op in model.operating_points]
    expected = {}
    x = np.random.default_rng(1).standard_normal((1, 1, 28, 28)).astype(np.float32)
    for n in names:
        model.set_subnet(n)
        expected[n] = model.infer(x)
    outputs, errors = [], []

    def worker():
        try:
            for _ in range(30):
                outputs.append(model.infer(x))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        model.set_subnet(names[i % len(names)])
    for t in threads:
        t.join()
    assert not errors
    # every output is exactly one of the operating points' outputs: no torn switch
    for out in outputs:
        assert any(np.array_equal(out, e) for e in expected.values())


def test_request_subnet_is_asynchronous(fixture_dir):
    model = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
    names = [op["name"] for op in model.operating_points]
    x = np.zeros((1, 1, 28, 28), np.float32)
    model.request_subnet(names[2])
    for _ in range(5000):
        model.infer(x)
        if not model.switch_pending:
            break
    assert model.active_name == names[2] and model.last_switch_error == ""
    assert model.backend in ("onednn", "aten")
    stats = model.plan_cache_stats
    assert stats["entries"] >= 2 and stats["bytes"] <= stats["budget"]
    model.set_plan_cache_budget(0)
    assert model.plan_cache_stats["entries"] == 0
    assert model.infer(x).shape == (1, 10)  # the active plan survives an empty cache


def test_errors_are_dyndnn_classes_and_builtins(fixture_dir, tmp_path):
    """Each error is the library's class and the built-in a caller would catch, with the library's message."""
    model = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
    with pytest.raises(dyndnn.InvalidArgument, match="no operating point named") as bad_name:
        model.set_subnet("nope")
    assert isinstance(bad_name.value, ValueError) and isinstance(bad_name.value, dyndnn.Error)
    with pytest.raises(dyndnn.IoError) as missing:
        dyndnn.DynamicModel(str(tmp_path / "missing.dyn"))
    assert isinstance(missing.value, OSError) and "missing.dyn" in str(missing.value)
    damaged = tmp_path / "damaged.dyn"
    damaged.write_bytes(open(os.path.join(fixture_dir, "fmnist.dyn"), "rb").read()[:4000])
    with pytest.raises(dyndnn.FormatError) as truncated:
        dyndnn.DynamicModel(str(damaged))
    assert isinstance(truncated.value, ValueError) and "damaged.dyn" in str(truncated.value)
    assert issubclass(dyndnn.HardwareError, OSError) and issubclass(dyndnn.Error, RuntimeError)
    # What LibTorch, oneDNN or the allocator throw inside a call arrives as one of these (tests/cpp/api/test_boundary.cpp).
    assert issubclass(dyndnn.OutOfMemory, MemoryError) and issubclass(dyndnn.OutOfMemory, dyndnn.Error)
    assert issubclass(dyndnn.BackendError, dyndnn.Error)


def test_backend_option(fixture_dir):
    path = os.path.join(fixture_dir, "fmnist.dyn")
    x = np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32)
    outs = {}
    for b in ("auto", "onednn", "xnnpack", "aten", "reference"):
        m = dyndnn.DynamicModel(path, threads=1, backend=b)
        assert m.backend == (b if b != "auto" else "onednn")  # this x86 build: oneDNN has kernels for every op
        outs[b] = m.infer(x)
    for b, y in outs.items():
        assert rel(y, outs["reference"]) < 1e-4, b
    with pytest.raises(dyndnn.InvalidArgument, match="unknown backend 'fast'"):
        dyndnn.DynamicModel(path, backend="fast")


def test_export_subnet(fixture_dir, tmp_path):
    """export_subnet by name and by config dict: the static package gives the sub-network's outputs."""
    model = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    config = model.operating_points[4]["config"]
    for what in ("random6", config):
        out = str(tmp_path / "static.dyn")
        model.export_subnet(what, out)
        exported = dyndnn.DynamicModel(out)
        model.set_subnet(what)
        assert exported.operating_points[0]["name"] == (what if isinstance(what, str) else "exported")
        assert rel(exported.infer(x), model.infer(x)) <= 1e-6
    with pytest.raises(dyndnn.InvalidArgument, match="no operating point named"):
        model.export_subnet("nope", str(tmp_path / "x.dyn"))
    with pytest.raises(dyndnn.InvalidArgument, match="no knobs"):
        exported.set_subnet({"ks": 3})
