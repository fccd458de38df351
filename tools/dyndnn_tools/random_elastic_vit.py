"""elastic_vit packages with random weights for the tests, and their reference outputs (elastic_vit.forward on
the package's own tensors, q_scale 1) for random sub-networks plus the largest and smallest.

Weights are scaled so that every op matters: linears at 1/sqrt(fan_in) (attention scores of order 1, so the
softmax is neither uniform nor one-hot), layer norms around 1, biases and the positional embedding non-zero.
"""
import random

import torch

from . import elastic_vit as V
from . import package, reference, safetensors_io

ARCHS = {  # small: the fixtures are built at every test run
    "vit_small": lambda: V.make_arch(widths=(16, 24, 32), depths=(1, 2, 3), heads=(1, 2, 3), head_dim=8,
                                     mlp_widths=(16, 32, 48)),
    # a few kilobytes: a seed for fuzzing the package reader
    "vit_tiny": lambda: V.make_arch(widths=(4, 8), depths=(1, 2), heads=(1, 2), head_dim=2, mlp_widths=(4, 8),
                                    patch=7),
}
INPUT = {"channels": 1, "mean": [0.286], "std": [0.353], "resolutions": [28], "crop_ratio": 1.0}


def random_weights(arch, generator):
    out = {}
    for name, shape in V.tensor_shapes(arch).items():
        t = torch.randn(shape, generator=generator)
        if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "norm.weight":
            t = 1 + 0.2 * t
        elif name.endswith(".bias") or name == "pos":
            t = 0.2 * t
        else:
            fan_in = 1
            for n in shape[1:]:
                fan_in *= n
            t = t / fan_in ** 0.5
        out[name] = t
    return out


def write(path, arch_name, n_ops, seed, refs_path):
    arch = ARCHS[arch_name]()
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    weights = random_weights(arch, gen)
    configs = [V.largest_config(arch), V.smallest_config(arch)] + [V.random_config(arch, rng) for _ in range(n_ops - 2)]
    ops = [{"name": f"op{i}", "config": c} for i, c in enumerate(configs)]
    note = {"note": f"random weights ({arch_name}, seed {seed}); for tests"}
    package.write(path, arch, {k: v.numpy() for k, v in weights.items()}, INPUT, ops, extra_metadata=note)
    if not refs_path:
        return
    refs = {}
    with torch.no_grad():
        for i, config in enumerate(configs):
            a = torch.randn(1, 1, 28, 28, generator=gen)
            b = torch.randn(1, 1, 41, 21, generator=gen)
            img = torch.randint(0, 256, (49, 68, 1), generator=gen, dtype=torch.uint8)
            refs[f"op.{i}.input_a"] = a
            refs[f"op.{i}.input_b"] = b
            refs[f"op.{i}.image"] = img
            run = lambda x: V.forward(weights, arch, config, x, 1.0)  # noqa: E731
            refs[f"op.{i}.logits_a"] = run(a)
            refs[f"op.{i}.logits_b"] = run(reference.preprocess_float(b, 28))
            refs[f"op.{i}.logits_img"] = run(reference.preprocess_image(img, INPUT, 28))
    safetensors_io.write(refs_path, {k: v.numpy() for k, v in refs.items()})
