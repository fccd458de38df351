"""Training on a few batches only (the real run is an offline step): data loading, augmentation, the sandwich
step, checkpointing and exact resumption."""
import os
import sys

import pytest
import torch

from dyndnn_tools import fmnist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import train_supernet  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(fmnist.DEFAULT_DIR, "t10k-images-idx3-ubyte.gz")),
                                reason="Debian package dataset-fashion-mnist is not installed")


def test_idx_loading_and_preprocessing():
    x, y = fmnist.load(split="t10k")
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (10000,) and int(y.min()) == 0 and int(y.max()) == 9
    aug = fmnist.augment(x[:16], torch.Generator().manual_seed(0))
    assert aug.shape == (16, 1, 28, 28) and 0.0 <= float(aug.min()) and float(aug.max()) <= 1.0
    for r in (24, 28, 32):
        assert fmnist.preprocess(x[:4], r).shape == (4, 1, r, r)
    # at the native size preprocessing is only scaling and normalisation
    assert torch.allclose(fmnist.preprocess(x[:2], 28)[:, 0], (x[:2].float() / 255 - fmnist.MEAN) / fmnist.STD)


def run(out, *extra):
    # 384 images = 3 batches of 128 per epoch; --no-eval keeps it to a few seconds
    return train_supernet.main(["--out", str(out), "--subset", "384", "--epochs", "2", "--no-eval",
                                "--warmup-steps", "2", "--log-every", "1", *extra])


def test_resume_continues_exactly(tmp_path):
    torch.set_num_threads(1)
    straight = run(tmp_path / "a", "--max-batches", "4")  # crosses the epoch boundary
    assert straight["epoch"] == 1 and straight["step_in_epoch"] == 1
    run(tmp_path / "b", "--max-batches", "2")
    resumed = run(tmp_path / "b", "--max-batches", "2")  # picks up last.pt
    assert resumed["epoch"] == 1 and resumed["step_in_epoch"] == 1
    a = torch.load(tmp_path / "a" / "last.pt")["model"]
    b = torch.load(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    init = train_supernet.supernet.Supernet(fmnist.arch_and_input()[0]).state_dict()
    assert not torch.equal(a["classifier.weight"], init["classifier.weight"])
