"""The shipped Fashion-MNIST package (models/fmnist_ofa_mbv3.dyn): its operating points meet the issue's targets
and the library (Python binding, raw uint8 images through its image path) gives the same logits as the training
code's supernet with each operating point's stored BN statistics."""
import os

import numpy as np
import pytest
import torch

from dyndnn_tools import fmnist, package, supernet

MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "models", "fmnist_ofa_mbv3.dyn")
pytestmark = pytest.mark.skipif(not os.path.exists(MODEL), reason="models/fmnist_ofa_mbv3.dyn not built")


@pytest.fixture(scope="module")
def shipped():
    meta, weights, stats = package.read(MODEL)
    net = supernet.Supernet(meta["arch"])
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    net.eval()
    return meta, net, stats


def test_operating_points_meet_targets(shipped):
    meta, _net, stats = shipped
    ops = meta["operating_points"]
    assert 6 <= len(ops) <= 10 and os.path.getsize(MODEL) < 20e6
    macs = [op["metrics"]["macs"] for op in ops]
    acc = [op["metrics"]["accuracy"] for op in ops]
    assert macs == sorted(macs) and acc == sorted(acc), "operating points are a Pareto front in MACs order"
    assert macs[0] * 4 <= macs[-1] and acc[-1] - acc[0] >= 3.0
    assert all(op["bn_stats"] for op in ops) and len(stats) == len(ops)


def test_largest_operating_point_reaches_required_accuracy(shipped):
    meta, _net, _stats = shipped
    assert meta["operating_points"][-1]["metrics"]["accuracy"] >= 92.0


def test_binding_matches_supernet_on_test_images(shipped):
    dyndnn = pytest.importorskip("dyndnn")
    meta, net, stats = shipped
    if not os.path.exists(fmnist.DEFAULT_DIR):
        pytest.skip("dataset-fashion-mnist not installed")
    images, _labels = fmnist.load(split="t10k")
    model = dyndnn.DynamicModel(MODEL, threads=1)
    for i, op in enumerate(meta["operating_points"]):
        model.set_subnet(op["name"])
        net.set_active(op["config"])
        net.load_bn_stats({k: (torch.from_numpy(m), torch.from_numpy(v)) for k, (m, v) in stats[i].items()})
        with torch.no_grad():
            want = net(fmnist.preprocess(images[:6], op["config"]["r"])).numpy()
        for j in range(6):
            got = np.asarray(model.infer(images[j].numpy()[:, :, None]))
            assert np.abs(got - want[j]).max() < 1e-3 * np.abs(want[j]).max() + 1e-4, (op["name"], j)
