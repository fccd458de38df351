"""The static peer module used by the benchmarks computes the same function as the reference."""
import random

import torch

from dyndnn_tools import arch as A
from dyndnn_tools import random_package, reference, static_subnet


def test_static_module_and_frozen_graph_match_reference():
    arch, spec, weights, ops = random_package.make("fmnist", 2, seed=9)
    for op in ops:
        x = torch.randn(2, 1, op["config"]["r"], op["config"]["r"])
        with torch.no_grad():
            ref = reference.forward(weights, arch, op["config"], x, op["bn_stats"])[0]
            frozen, module, _ = static_subnet.frozen_torchscript(weights, arch, op["config"], op["bn_stats"])
            assert torch.allclose(module(x), ref, rtol=1e-4, atol=1e-5 * ref.abs().max())
            assert (frozen(x) - ref).abs().max() / ref.abs().max() < 1e-4
            other = reference.forward(weights, arch, op["config"], torch.randn_like(x), op["bn_stats"])[0]
            assert (other - ref).abs().max() / ref.abs().max() > 2e-3
