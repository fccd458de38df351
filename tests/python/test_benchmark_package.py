"""tools/make_benchmark_package.py: full-size OFA MBv3 with random weights and a smallest-to-largest ladder."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from dyndnn_tools import arch as A
from dyndnn_tools import package

SOURCE = os.environ.get("DYNDNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(SOURCE, "tools", "make_benchmark_package.py")
sys.path.insert(0, os.path.join(SOURCE, "tools"))
import make_benchmark_package  # noqa: E402

try:
    import dyndnn
except ImportError:  # run outside ctest: use the default build tree
    sys.path.insert(0, os.path.join(SOURCE, os.environ.get("DYNDNN_BUILD_DIR", "build"), "python"))
    import dyndnn


@pytest.mark.parametrize("width", [1.0, 1.2])
def test_ladder_runs_smallest_to_largest(width):
    arch = A.ofa_mbv3(width)
    res = A.imagenet_input(width_mult=width)["resolutions"]
    configs = make_benchmark_package.ladder(arch, res, 7, seed=3)
    macs = [A.cost(arch, c)[0] for c in configs]
    assert len(configs) == 7 and macs == sorted(macs) and len(set(macs)) == 7
    assert configs[0] == A.normalise_config(arch, dict(ks=3, e=3, d=2, r=min(res)))
    assert configs[-1] == A.normalise_config(arch, dict(ks=7, e=6, d=4, r=224))
    assert macs[3] / macs[0] > 2 and macs[-1] / macs[3] > 2  # spread, not bunched at one end


def test_package_loads_and_every_level_has_its_own_statistics(tmp_path):
    path = tmp_path / "bench.dyn"
    r = subprocess.run([sys.executable, TOOL, str(path), "--arch", "ofa_w1.2", "--levels", "3", "--n-classes", "10"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert "3 levels" in r.stdout
    meta, _, stats = package.read(path)
    assert meta["arch"] == A.ofa_mbv3(1.2, n_classes=10) and meta["input"]["resolutions"][0] == 160
    assert [op["name"] for op in meta["operating_points"]] == ["level0", "level1", "level2"]
    assert all(op["bn_stats"] for op in meta["operating_points"]) and sorted(stats) == [0, 1, 2]
    model = dyndnn.DynamicModel(str(path), threads=1)
    model.set_subnet("level0")
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(0)).numpy()
    out = model.infer(x)
    assert out.shape == (2, 10) and np.abs(out[0] - out[1]).max() > 1e-2 * np.abs(out).max()
