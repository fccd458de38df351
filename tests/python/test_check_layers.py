"""scripts/check_layers.py passes on this tree and fails, naming the file and line, on an include against the
layer direction."""
import os
import shutil
import subprocess

SOURCE = os.environ.get("DYNDNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE, "scripts", "check_layers.py")


def check(root):
    return subprocess.run(["/usr/bin/python3", SCRIPT, str(root)], capture_output=True, text=True, timeout=60)


def copy_tree(tmp_path):
    for part in ("include", "src", "bindings", "examples", "benchmarks"):
        if os.path.isdir(os.path.join(SOURCE, part)):
            shutil.copytree(os.path.join(SOURCE, part), tmp_path / part,
                            ignore=shutil.ignore_patterns("results", "figures", "data", "*.png", "*.json"))
    return tmp_path


def test_this_tree_passes():
    r = check(SOURCE)
    assert r.returncode == 0, r.stdout


def test_includes_against_the_direction_fail(tmp_path):
    root = copy_tree(tmp_path)
    cases = [("src/runtime/manager.cpp", '#include "dyndnn/model.hpp"', "runtime includes dyndnn/model.hpp (api)"),
             ("src/format/package.cpp", '#include "engine/graph.hpp"', "format includes engine/graph.hpp (graph)"),
             ("src/engine/reference.cpp", '#include "nn/family.hpp"', "engine includes nn/family.hpp (nn)"),
             ("src/hw/detect.cpp", '#include "dyndnn/runtime.hpp"', "hw includes dyndnn/runtime.hpp (runtime)"),
             ("src/cli/main.cpp", '#include "engine/graph.hpp"', "cli includes engine/graph.hpp (graph)")]
    for path, line, says in cases:
        original = (root / path).read_text()
        (root / path).write_text(line + "\n" + original)
        r = check(root)
        assert r.returncode == 1 and f"{path}:1: {says}" in r.stdout, (path, r.stdout)
        (root / path).write_text(original)
    assert check(root).returncode == 0
