"""The trainable supernet (tools/dyndnn_tools/supernet.py) against the reference forward (reference.py).

Random weights wash the input out unless BN statistics match the activations (FACTS section 1), so every
comparison calibrates the sub-network's statistics first and asserts that the output depends on the input.
"""
import random

import numpy as np
import pytest
import torch

from dyndnn_tools import arch as A
from dyndnn_tools import fmnist, package, random_package, reference, supernet

ARCHS = {
    "fmnist": lambda: fmnist.arch_and_input()[0],
    # another geometry: stem stride 1, stem width != first block width (no shortcut there), 2 kernel sizes
    "narrow": lambda: A.ofa_mbv3(1.0, n_classes=7, in_channels=2, ks_list=[3, 5], expand_ratio_list=[2, 4],
                                 depth_list=[1, 2], base_widths=[8, 16, 16, 24, 32, 40, 48, 64, 96],
                                 strides=[1, 2, 2, 1, 2], stem_stride=1),
}


def random_net(arch, seed):
    """Supernet holding random_package's weights (non-identity kernel transforms, non-trivial BN affine)."""
    weights = random_package.random_weights(arch, torch.Generator().manual_seed(seed))
    net = supernet.Supernet(arch)
    net.load_state_dict(weights)
    return net, weights


def relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_state_matches_package_layout(name, tmp_path):
    arch = ARCHS[name]()
    net = supernet.Supernet(arch)
    shapes = A.tensor_shapes(arch)
    state = net.state_dict()
    assert set(state) == set(shapes)
    assert all(list(state[k].shape) == shapes[k] for k in shapes)
    # BN layer names the supernet calibrates are the ones the package expects per operating point
    config = A.normalise_config(arch, net.largest_config(16))
    assert {n for n, _m in net.bn_modules()} >= set(A.bn_layers(arch, config))
    path = str(tmp_path / "net.dyn")
    package.write(path, arch, net.weights(), {"channels": arch["in_channels"], "mean": [0.0] * arch["in_channels"],
                                              "std": [1.0] * arch["in_channels"], "resolutions": [16],
                                              "crop_ratio": 1.0})
    _meta, weights, _stats = package.read(path)
    assert all(np.array_equal(weights[k], v.numpy()) for k, v in state.items())


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_eval_forward_matches_reference(name):
    arch = ARCHS[name]()
    net, weights = random_net(arch, seed=3)
    net.eval()
    rng = random.Random(5)
    gen = torch.Generator().manual_seed(7)
    configs = [net.largest_config(24), net.smallest_config(16)] + \
        [A.random_config(arch, [16, 20, 24], rng) for _ in range(6)]
    for config in configs:
        r = config["r"]
        calib = torch.randn(8, arch["in_channels"], r, r, generator=gen)
        _, bn = reference.forward(weights, arch, config, calib, calibrate=True)
        stats = bn.recorded
        # the supernet's own calibration of one batch gives the same statistics as the reference's
        net.set_active(config)
        mine = net.calibrate([calib])
        assert set(mine) == set(stats)
        for layer in stats:
            assert torch.allclose(mine[layer][0], stats[layer][0], atol=1e-5)
            assert torch.allclose(mine[layer][1], stats[layer][1], rtol=1e-4, atol=1e-5)
        net.load_bn_stats(stats)
        x = torch.randn(2, arch["in_channels"], r, r, generator=gen)
        with torch.no_grad():
            got = net(x)
            want = reference.forward(weights, arch, config, x, stats)[0]
        assert relative(got, want) < 1e-4, config
        assert relative(want[0], want[1]) > 1e-2, "output must depend on the input for the test to mean anything"


def test_training_steps_change_weights_and_active_stat_slices():
    arch = ARCHS["narrow"]()
    torch.manual_seed(0)
    net = supernet.Supernet(arch)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    config = net.smallest_config(16)
    net.set_active(config)
    x, y = torch.randn(8, arch["in_channels"], 16, 16), torch.randint(0, arch["n_classes"], (8,))
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    after = net.state_dict()
    assert losses[-1] < losses[0]
    assert not torch.equal(before["first_conv.weight"], after["first_conv.weight"])
    # a smaller kernel trains the transform matrix and the centre of the stored max kernel
    assert not torch.equal(before["blocks.1.depth_conv.5to3_matrix"], after["blocks.1.depth_conv.5to3_matrix"])
    # train-mode BN updated only the active prefix of the running statistics
    mid = A.mid_channels(arch["first_block"]["width"], min(arch["expand_ratio_list"]))
    key = "blocks.1.inverted_bottleneck.bn.running_mean"
    assert not torch.equal(before[key][:mid], after[key][:mid])
    assert torch.equal(before[key][mid:], after[key][mid:])
    # blocks beyond the active depth got no update at all
    depth = max(arch["depth_list"])
    assert torch.equal(before[f"blocks.{depth}.point_linear.weight"], after[f"blocks.{depth}.point_linear.weight"])
