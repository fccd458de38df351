"""dyndnn eval reads the IDX test set itself and agrees with the Python reference's predictions."""
import gzip
import json
import os
import subprocess

import numpy as np
import pytest
import torch

from dyndnn_tools import package, reference

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path) as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def test_eval_matches_reference_predictions(cli, fixture_dir, tmp_path):
    path = os.path.join(fixture_dir, "fmnist.dyn")
    n = 100
    meta, weights, stats = package.read(path)
    w = {k: torch.from_numpy(v) for k, v in weights.items()}
    images = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")[:n]
    labels = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz")[:n]
    for i in (0, 5):
        op = meta["operating_points"][i]
        own = {k: (torch.from_numpy(m), torch.from_numpy(v)) for k, (m, v) in stats.get(i, {}).items()} or None
        with torch.no_grad():
            x = torch.cat([reference.preprocess_image(img, meta["input"], op["config"]["r"]) for img in images])
            predicted = reference.forward(w, meta["arch"], op["config"], x, own)[0].argmax(1).numpy()
        expected = 100.0 * float((predicted == labels).mean())
        out = subprocess.run([cli, "eval", path, "--data", DATA, "--limit", str(n), "--op", op["name"], "--json"],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["images"] == n and len(result["operating_points"]) == 1
        row = result["operating_points"][0]
        assert abs(row["top1"] - expected) < 1e-9, (op["name"], row["top1"], expected)


def test_eval_errors(cli, fixture_dir, tmp_path):
    path = os.path.join(fixture_dir, "fmnist.dyn")
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    r = subprocess.run([cli, "eval", path, "--data", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "is not that of an IDX images file" in r.stderr
    r = subprocess.run([cli, "eval", path, "--data", "/nonexistent"], capture_output=True, text=True)
    assert r.returncode == 1 and "no t10k-images-idx3-ubyte" in r.stderr


SHIPPED = ["fmnist_ofa_mbv3.dyn", "fmnist_elastic_vit.dyn"]


@pytest.mark.parametrize("name", SHIPPED)
def test_eval_reproduces_the_shipped_models_accuracy_table(cli, name):
    """Every shipped model: `dyndnn eval` reproduces the stored accuracies within 0.1 points (all 10k images)."""
    source = os.environ.get("DYNDNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    model = os.path.join(source, "models", name)
    out = subprocess.run([cli, "eval", model, "--data", DATA, "--threads", "1", "--json"], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["operating_points"]
    assert len(rows) >= 6
    for row in rows:
        assert row["stored"] is not None and abs(row["difference"]) <= 0.1, row
