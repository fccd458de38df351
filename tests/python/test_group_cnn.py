"""The channel-group CNN's Python side: the trainable module against the reference forward, the stage rule (one
group trains, the others do not move), the training script's resumption, and `dyndnn eval` on a group_cnn
package against the reference's predictions."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from dyndnn_tools import fmnist, package
from dyndnn_tools import group_cnn as GC

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import export_group_cnn  # noqa: E402
import train_group_cnn  # noqa: E402

SMALL = {"conv_widths": (16, 24, 32, 32, 24), "fc_widths": (48,)}
SHARES = {"grouped": None, "triangular": (1, 1, 2, 4)}  # unequal groups where the connectivity allows them
HAVE_DATA = os.path.exists(os.path.join(fmnist.DEFAULT_DIR, "t10k-images-idx3-ubyte.gz"))


def randomised(net, seed):
    """Every parameter and BN statistic random (classifier parts of later groups start at zero otherwise)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if p.dim() > 1 else 0.1) + (1 if "bn.weight" in name else 0))
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return net


@pytest.mark.parametrize("connectivity", GC.CONNECTIVITIES)
def test_module_matches_reference_and_levels_differ(connectivity):
    arch = GC.make_arch(4, connectivity, shares=SHARES[connectivity], **SMALL)
    net = randomised(GC.GroupCNN(arch), 1).eval()
    weights = net.export()
    assert {k: list(v.shape) for k, v in weights.items()} == GC.tensor_shapes(arch)
    x = torch.randn(2, 1, 28, 28)
    outs = []
    for g in range(1, 5):
        with torch.no_grad():
            mine, ref = net(x, g), GC.forward(weights, arch, {"g": g}, x)
        assert torch.allclose(mine, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))
        assert float((ref[0] - ref[1]).abs().max()) > 1e-3 * float(ref.abs().max())  # depends on the input
        outs.append(ref)
    assert all(float((a - b).abs().max()) > 1e-4 for a, b in zip(outs, outs[1:]))


def test_costs_count_only_used_weights():
    tri = GC.make_arch(4, "triangular", **SMALL)
    with pytest.raises(ValueError, match="equal groups"):
        GC.make_arch(4, "grouped", shares=(1, 1, 2, 4), **SMALL)
    grouped = GC.make_arch(4, "grouped", **SMALL)
    # grouped: every level adds the same tower; triangular: level 1 is far less than a quarter
    g_macs = [GC.cost(grouped, {"g": g})[0] for g in range(1, 5)]
    t_macs = [GC.cost(tri, {"g": g})[0] for g in range(1, 5)]
    assert g_macs[3] - g_macs[2] == g_macs[1] - g_macs[0]
    assert t_macs[0] * 4 < t_macs[3] and t_macs == sorted(t_macs)
    with pytest.raises(ValueError, match="1..4"):
        GC.normalise_config(tri, {"g": 5})
    with pytest.raises(ValueError, match="runs at 28"):
        GC.normalise_config(tri, {"g": 1, "r": 32})


@pytest.mark.parametrize("connectivity", GC.CONNECTIVITIES)
def test_staged_training_forward_computes_the_level(connectivity):
    """The fast training forward (frozen groups without autograd, one group differentiated) against the plain level
    forward, with BN on stored statistics and no dropout so that both are deterministic."""
    arch = GC.make_arch(4, connectivity, shares=SHARES[connectivity], **SMALL)
    net = randomised(GC.GroupCNN(arch), 3)
    post = net._post
    net._post = lambda index, y, first, count, train_stats: post(index, y, first, count, False)
    x = torch.randn(4, 1, 28, 28)
    for stage in range(1, 5):
        net.stage = stage
        staged, plain = net.staged(x)[0], net._classify(net._level(x, stage), stage)
        assert torch.allclose(staged, plain, rtol=1e-5, atol=1e-5 * float(plain.abs().max())), stage


@pytest.mark.parametrize("connectivity", GC.CONNECTIVITIES)
def test_a_stage_moves_only_its_group(connectivity):
    arch = GC.make_arch(4, connectivity, shares=SHARES[connectivity], **SMALL)
    net = randomised(GC.GroupCNN(arch), 2)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    net.eval()
    with torch.no_grad():
        before = [net(x, g) for g in (1, 2, 3)]
    frozen = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    net.stage = 3
    opt = torch.optim.SGD(net.group_parameters(2), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        after = [net(x, g) for g in (1, 2, 3)]
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])  # bit for bit
    assert float((before[2] - after[2]).abs().max()) > 1e-4
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, frozen[k])}
    assert changed and all(re.match(r"(blocks\.\d+\.2\.|heads\.2\.)", k) for k in changed), changed


@pytest.mark.skipif(not HAVE_DATA, reason="Debian package dataset-fashion-mnist is not installed")
def test_training_resumes_exactly_and_keeps_levels(tmp_path):
    torch.set_num_threads(1)

    def run(name, *extra):
        return train_group_cnn.main(["--out", str(tmp_path / name / "o"), "--stages-dir", str(tmp_path / name / "s"),
                                     "--subset", "256", "--test-subset", "200", "--epochs", "1", "--groups", "2",
                                     "--warmup-steps", "1", "--log-every", "1", *extra])

    straight = run("a")
    assert straight["stage"] == 3
    run("b", "--max-batches", "3")  # stops inside stage 2
    resumed = run("b")
    a = torch.load(tmp_path / "a" / "s" / "stage2.pt")["model"]
    b = torch.load(tmp_path / "b" / "s" / "stage2.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    ends = [h for h in resumed["history"] if h.get("end")]
    assert [sorted(h["per_level_top1"]) for h in ends] == [[1], [1, 2]]
    assert ends[0]["per_level_top1"][1] == ends[1]["per_level_top1"][1]  # stage 2 left level 1 alone
    history = json.loads((tmp_path / "b" / "s" / "history.json").read_text())
    assert history["wall_seconds"] > 0
    # the export packages every level with its measured accuracy, and the library opens it
    export_group_cnn.main(["--stages-dir", str(tmp_path / "b" / "s"), "--out", str(tmp_path / "m.dyn")])
    meta, _, _ = package.read(tmp_path / "m.dyn")
    assert [op["name"] for op in meta["operating_points"]] == ["g1", "g2"]
    assert all(0 < op["metrics"]["accuracy"] <= 100 for op in meta["operating_points"])
    import dyndnn
    model = dyndnn.DynamicModel(str(tmp_path / "m.dyn"))
    assert [op["name"] for op in model.operating_points] == ["g1", "g2"]


@pytest.mark.skipif(not HAVE_DATA, reason="Debian package dataset-fashion-mnist is not installed")
def test_from_stages_adopts_the_finished_groups_only(tmp_path):
    """A variant that widens only the last group starts from another run's stages 1..3: those groups are taken
    bit for bit (levels 1-3 unchanged), the last one trains fresh; a variant whose groups differ is refused."""
    torch.set_num_threads(1)

    def run(name, variant, *extra):
        return train_group_cnn.main(["--variant", variant, "--out", str(tmp_path / name / "o"), "--stages-dir",
                                     str(tmp_path / name / "s"), "--subset", "256", "--test-subset", "200",
                                     "--epochs", "1", "--warmup-steps", "1", "--log-every", "1", *extra])

    run("narrow", "triangular")
    wide = run("wide", "triangular-wide", "--from-stages", str(tmp_path / "narrow" / "s"))
    ends = [h for h in wide["history"] if h.get("end")]
    assert [sorted(h["per_level_top1"]) for h in ends] == [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]
    assert ends[3]["per_level_top1"][3] == ends[2]["per_level_top1"][3]
    source = torch.load(tmp_path / "narrow" / "s" / "stage3.pt")["model"]
    result = torch.load(tmp_path / "wide" / "s" / "stage4.pt")["model"]
    group = lambda k: int(k.split(".")[2] if k.startswith("blocks.") else k.split(".")[1])  # noqa: E731
    assert all(torch.equal(result[k], v) for k, v in source.items() if group(k) < 3)
    assert result["heads.3.weight"].shape[1] == 2 * source["heads.3.weight"].shape[1]
    with pytest.raises(SystemExit, match="differ from this variant"):
        run("grouped", "grouped", "--from-stages", str(tmp_path / "narrow" / "s"))


@pytest.mark.skipif(not HAVE_DATA, reason="Debian package dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("stem", ["group_cnn_tri", "group_cnn_grouped"])
def test_eval_matches_reference_predictions(cli, fixture_dir, stem):
    path = os.path.join(fixture_dir, stem + ".dyn")
    meta, weights, _ = package.read(path)
    w = {k: torch.from_numpy(v) for k, v in weights.items()}
    test_x, test_y = fmnist.load(split="t10k")
    n = 200
    for op in meta["operating_points"]:
        with torch.no_grad():
            predicted = GC.forward(w, meta["arch"], op["config"], fmnist.preprocess(test_x[:n], 28)).argmax(1)
        expected = 100.0 * int((predicted == test_y[:n]).sum()) / n
        out = subprocess.run([cli, "eval", path, "--data", fmnist.DEFAULT_DIR, "--limit", str(n), "--op", op["name"],
                              "--json"], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert abs(json.loads(out.stdout)["operating_points"][0]["top1"] - expected) < 1e-9, op["name"]
