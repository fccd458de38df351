"""group_cnn packages with random weights for the tests: the package itself, its reference outputs per level
(group_cnn.forward), and for every level g < G the two packages that the pruning invariant is tested with:
  <stem>.stage<g>.dyn      the stage-g network: a G=g network holding only the first g groups' weights
  <stem>.perturbed<g>.dyn  the G network with every weight of the groups > g replaced by other random values
"""
import torch

from . import group_cnn as GC
from . import package, reference, safetensors_io

ARCHS = {  # small widths: the fixtures are built at every test run
    "group_cnn_tri": lambda: GC.make_arch(4, "triangular", conv_widths=(32, 48, 64, 64, 48), fc_widths=(96,),
                                          shares=(1, 1, 2, 4)),
    "group_cnn_grouped": lambda: GC.make_arch(4, "grouped", conv_widths=(16, 24, 32, 32, 24), fc_widths=(48,)),
    # a few kilobytes: a seed for fuzzing the package reader
    "group_cnn_tiny": lambda: GC.make_arch(2, "triangular", conv_widths=(2, 2, 2, 2, 2), fc_widths=(4,)),
}
INPUT = {"channels": 1, "mean": [0.286], "std": [0.353], "resolutions": [28], "crop_ratio": 1.0}


def rows_of(arch, name, g):
    """Row range (first, last) of the groups > g in tensor `name` (all rows of the groups' own channels)."""
    if name.startswith("classifier.bias"):
        return g, arch["groups"]
    index = int(name.split(".")[1])
    return GC.rows(arch, index, g), GC.rows(arch, index, arch["groups"])


def stage_weights(arch, weights, g):
    """(arch of G=g, its weights): the first g groups of every tensor."""
    small = dict(arch, groups=g, layers=[dict(layer, widths=layer["widths"][:g]) for layer in arch["layers"]])
    out = {}
    for name, shape in GC.tensor_shapes(small).items():
        t = weights[name]
        index = [slice(0, n) for n in shape]
        out[name] = t[tuple(index)].clone()
    return small, out


def perturbed_weights(arch, weights, g, generator):
    """Every weight that belongs to a group > g replaced: its rows, and (triangular) nothing a group <= g reads."""
    out = {k: v.clone() for k, v in weights.items()}
    fresh = GC.random_weights(arch, generator)
    for name in out:
        if name == "classifier.weight":
            c = GC.rows(arch, len(arch["layers"]) - 1, g)
            out[name][:, c:] = fresh[name][:, c:]
            continue
        first, last = rows_of(arch, name, g)
        out[name][first:last] = fresh[name][first:last]
    return out


def write(path, arch_name, seed, refs_path):
    arch = ARCHS[arch_name]()
    gen = torch.Generator().manual_seed(seed)
    weights = GC.random_weights(arch, gen)
    G = arch["groups"]
    ops = [{"name": f"g{g}", "config": {"g": g}} for g in range(1, G + 1)]
    note = {"note": f"random weights ({arch_name}, seed {seed}); for tests"}
    package.write(path, arch, {k: v.numpy() for k, v in weights.items()}, INPUT, ops, extra_metadata=note)
    stem = str(path)[:-len(".dyn")]
    for g in range(1, G):
        small, small_weights = stage_weights(arch, weights, g)
        package.write(f"{stem}.stage{g}.dyn", small, {k: v.numpy() for k, v in small_weights.items()}, INPUT,
                      [{"name": f"g{g}", "config": {"g": g}}], extra_metadata=note)
        package.write(f"{stem}.perturbed{g}.dyn", arch,
                      {k: v.numpy() for k, v in perturbed_weights(arch, weights, g, gen).items()}, INPUT, ops,
                      extra_metadata=note)
    refs = {}
    with torch.no_grad():
        for i, op in enumerate(ops):
            a = torch.randn(1, 1, 28, 28, generator=gen)
            b = torch.randn(1, 1, 41, 21, generator=gen)
            img = torch.randint(0, 256, (49, 68, 1), generator=gen, dtype=torch.uint8)
            refs[f"op.{i}.input_a"] = a
            refs[f"op.{i}.input_b"] = b
            refs[f"op.{i}.image"] = img
            refs[f"op.{i}.logits_a"] = GC.forward(weights, arch, op["config"], a)
            refs[f"op.{i}.logits_b"] = GC.forward(weights, arch, op["config"], reference.preprocess_float(b, 28))
            refs[f"op.{i}.logits_img"] = GC.forward(weights, arch, op["config"],
                                                    reference.preprocess_image(img, INPUT, 28))
    safetensors_io.write(refs_path, {k: v.numpy() for k, v in refs.items()})
