"""The elastic ViT's Python side: configs, the cost model, the exported (query-scaled) weights computing what the
trainable net computes, the library against the Python reference on a package written here, and the training
script's stages (resume exactly from last.pt; from the committed stage weights with a fresh optimizer)."""
import os
import random
import sys

import pytest
import torch

from dyndnn_tools import elastic_vit as V
from dyndnn_tools import fmnist, package

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import train_vit_supernet  # noqa: E402

HAVE_DATA = os.path.exists(os.path.join(fmnist.DEFAULT_DIR, "t10k-images-idx3-ubyte.gz"))
SMALL = V.make_arch(widths=(16, 24), depths=(1, 2), heads=(1, 2), head_dim=8, mlp_widths=(16, 32))


def test_configs_broadcast_and_say_what_is_wrong():
    c = V.normalise_config(SMALL, {"d": 2, "w": 24, "h": 1, "m": [16, 32]})
    assert c == {"d": [2], "w": [24], "h": [1, 1], "m": [16, 32], "r": 28}
    with pytest.raises(ValueError, match=r"'w' = 20: allowed values \[16, 24\]"):
        V.normalise_config(SMALL, {"d": 2, "w": 20, "h": 1, "m": 16})
    with pytest.raises(ValueError, match="missing field 'm'"):
        V.normalise_config(SMALL, {"d": 2, "w": 16, "h": 1})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['ks'\]"):
        V.normalise_config(SMALL, {"d": 2, "w": 16, "h": 1, "m": 16, "ks": 3})
    with pytest.raises(ValueError, match="runs at 28"):
        V.normalise_config(SMALL, {"d": 2, "w": 16, "h": 1, "m": 16, "r": 32})


def test_cost_counts_what_the_forward_pass_multiplies():
    arch = V.make_arch()
    macs, params = V.cost(arch, V.largest_config(arch))
    # the shipped space's claim: smallest at most a quarter of the largest's MACs (it is ~1/21)
    assert V.cost(arch, V.smallest_config(arch))[0] * 4 <= macs
    # params: every tensor the largest reads, in full (the largest reads every weight there is)
    assert params == sum(int(torch.tensor(s).prod()) for s in V.tensor_shapes(arch).values())


def test_exported_weights_compute_what_the_trainable_net_computes():
    torch.manual_seed(0)
    net = V.ElasticViT(SMALL, torch.Generator().manual_seed(1))
    with torch.no_grad():  # trained-looking weights: the attention is not uniform
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    exported = {k: torch.from_numpy(v) for k, v in net.export().items()}
    x = torch.randn(3, 1, 28, 28)
    rng = random.Random(0)
    for config in [V.largest_config(SMALL), V.smallest_config(SMALL)] + [V.random_config(SMALL, rng) for _ in range(4)]:
        net.set_active(config)
        with torch.no_grad():
            want = net(x)
            got = V.forward(exported, SMALL, net.config, x, 1.0)
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
        assert (want[0] - want[1]).abs().max() > 1e-2  # the output depends on the input


def test_library_runs_a_package_written_here(tmp_path):
    import dyndnn
    net = V.ElasticViT(SMALL, torch.Generator().manual_seed(2))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    configs = [V.largest_config(SMALL), V.smallest_config(SMALL)]
    path = str(tmp_path / "vit.dyn")
    package.write(path, SMALL, net.export(), {"channels": 1, "mean": [fmnist.MEAN], "std": [fmnist.STD],
                                              "resolutions": [28], "crop_ratio": 1.0},
                  [{"name": f"p{i}", "config": c, "metrics": {"top1": 0.5}} for i, c in enumerate(configs)])
    model = dyndnn.DynamicModel(path)
    x = torch.randn(2, 1, 28, 28)
    exported = {k: torch.from_numpy(v) for k, v in net.export().items()}
    for i, config in enumerate(configs):
        model.set_subnet(f"p{i}")
        want = V.forward(exported, SMALL, config, x, 1.0)
        got = torch.from_numpy(model.infer(x.numpy()))
        assert float((got - want).abs().max() / want.abs().max()) < 1e-4
    assert model.operating_points[0]["macs"] == V.cost(SMALL, configs[0])[0]


@pytest.mark.skipif(not HAVE_DATA, reason="Debian package dataset-fashion-mnist is not installed")
def test_training_resumes_exactly_and_from_stage_weights(tmp_path):
    torch.set_num_threads(1)

    def run(name, *extra):  # 256 images = 2 batches of 128 per epoch
        return train_vit_supernet.main(["--out", str(tmp_path / name), "--stages-dir", str(tmp_path / (name + "-s")),
                                        "--space", "test", "--subset", "256", "--test-subset", "200", "--epochs", "2",
                                        "--stage-epochs", "1", "--warmup-steps", "2", "--log-every", "1", *extra])

    straight = run("a", "--max-batches", "3")  # crosses the epoch boundary: a stage file is written
    assert straight["epoch"] == 1 and straight["step_in_epoch"] == 1
    assert os.path.exists(tmp_path / "a-s" / "stage.pt")
    run("b", "--max-batches", "2")
    resumed = run("b", "--max-batches", "1")  # picks up last.pt: the same as never stopping
    a = torch.load(tmp_path / "a" / "last.pt")["model"]
    b = torch.load(tmp_path / "b" / "last.pt")["model"]
    assert resumed["step_in_epoch"] == 1 and all(torch.equal(a[k], b[k]) for k in a)
    # a new machine has only the committed stage weights: training goes on from them with a fresh optimizer
    os.remove(tmp_path / "b" / "last.pt")
    done = run("b")
    assert done["epoch"] == 2 and done["rewarm_from"] == 2 and len(done["history"]) == 2
    stage = torch.load(tmp_path / "b-s" / "stage.pt")
    assert stage["state"]["epoch"] == 2 and not torch.equal(stage["model"]["params.head__weight"], a["params.head__weight"])


@pytest.mark.skipif(not HAVE_DATA, reason="Debian package dataset-fashion-mnist is not installed")
def test_sigusr1_writes_stage_weights_mid_epoch(tmp_path):
    import signal
    import subprocess
    import time
    script = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "train_vit_supernet.py")
    out, stages = tmp_path / "o", tmp_path / "s"
    proc = subprocess.Popen([sys.executable, script, "--space", "test", "--subset", "2560", "--test-subset", "200",
                             "--epochs", "2", "--out", str(out), "--stages-dir", str(stages), "--log-every", "1"],
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # once it is training, ask for the stage weights
        if "batch 2/" in line:
            proc.send_signal(signal.SIGUSR1)
        if "stage weights at epoch 0" in line:
            proc.terminate()
            break
    proc.wait(timeout=60)
    stage = torch.load(stages / "stage.pt")
    assert stage["state"]["epoch"] == 0 and stage["state"]["step_in_epoch"] >= 2
    # and a run without last.pt resumes from it, mid-epoch, with the rate re-warmed from there
    os.remove(out / "last.pt")
    done = train_vit_supernet.main(["--space", "test", "--subset", "2560", "--test-subset", "200", "--epochs", "2",
                                    "--out", str(out), "--stages-dir", str(stages), "--max-batches", "1"])
    assert done["rewarm_from"] == stage["state"]["step_in_epoch"]
    assert done["step_in_epoch"] == stage["state"]["step_in_epoch"] + 1
