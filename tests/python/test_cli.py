"""The dyndnn CLI: good packages print, damaged ones exit non-zero with one readable line and no signal."""
import json
import os
import random
import subprocess

import numpy as np


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120)


def test_info_and_infer(cli, fixture_dir):
    path = os.path.join(fixture_dir, "fmnist.dyn")
    r = run(cli, "info", path)
    assert r.returncode == 0, r.stderr
    assert "ofa_mbv3" in r.stdout and "random0" in r.stdout
    info = json.loads(run(cli, "info", path, "--json").stdout)
    assert info["format_version"] == 1 and len(info["operating_points"]) == 8
    assert all(op["macs"] > 0 and op["params"] > 0 for op in info["operating_points"])
    r = run(cli, "infer", path, "--op", "random2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["operating_point"] == "random2" and len(out["top"]) == 5


def test_info_graph(cli, fixture_dir):
    """`dyndnn info --graph OP`: one line per node of the compiled graph, with shapes, MACs and kernels."""
    path = os.path.join(fixture_dir, "fmnist.dyn")
    info = json.loads(run(cli, "info", path, "--json").stdout)
    op = info["operating_points"][3]
    r = run(cli, "info", path, "--graph", op["name"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(op["name"] + " on ")
    nodes = [line for line in lines if line.lstrip().startswith("%")]
    assert nodes[0].split()[1] == "input" and "[1,1," in nodes[0]
    assert any("conv2d k1 s1 p0 +sum(" in line for line in nodes)  # residual sums fused
    assert any(" g" in line and "depth_conv" in line for line in nodes)  # depthwise (groups)
    assert "classifier" in nodes[-1] and "-> [1,10]" in nodes[-1]
    assert all("[" in line.rsplit("  ", 1)[-1] for line in nodes if "conv2d" in line)  # each conv names a kernel
    # the total MACs printed agree with the operating point's cost
    macs = float(lines[1].split(" MMACs")[0].split(", ")[-1]) * 1e6
    assert abs(macs - op["macs"]) / op["macs"] < 1e-3
    check_fails_cleanly(run(cli, "info", path, "--graph", "nope"), "no operating point named 'nope'")


def infer_top(cli, path, image):
    r = run(cli, "infer", path, "--image", str(image), "--top", "10", "--json")
    assert r.returncode == 0, r.stderr
    return {c["class"]: c["probability"] for c in json.loads(r.stdout)["top"]}


def test_infer_image(cli, fixture_dir, tmp_path):
    img = tmp_path / "x.pgm"
    img.write_bytes(b"P5\n# comment\n30 20\n255\n" + bytes(random.Random(0).randrange(256) for _ in range(600)))
    r = run(cli, "infer", os.path.join(fixture_dir, "fmnist.dyn"), "--image", str(img), "--top", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("class") == 3


def test_infer_image_formats(cli, fixture_dir, tmp_path):
    """PNG, BMP and JPEG decode to the pixels a PGM holds; colour becomes the model's one channel."""
    from PIL import Image
    path = os.path.join(fixture_dir, "fmnist.dyn")
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    (tmp_path / "x.pgm").write_bytes(b"P5\n28 28\n255\n" + grey.tobytes())
    expected = infer_top(cli, path, tmp_path / "x.pgm")
    Image.fromarray(grey).save(tmp_path / "x.png")
    Image.fromarray(grey).convert("LA").save(tmp_path / "alpha.png")
    Image.fromarray(np.stack([grey] * 3, axis=2)).save(tmp_path / "rgb.bmp")  # r = g = b: luminance is grey
    for name in ("x.png", "alpha.png", "rgb.bmp"):
        got = infer_top(cli, path, tmp_path / name)
        assert got.keys() == expected.keys() and all(got[k] == expected[k] for k in got), name
    # the output depends on the pixels: another image gives other probabilities
    Image.fromarray(255 - grey).save(tmp_path / "inverted.png")
    other = infer_top(cli, path, tmp_path / "inverted.png")
    assert max(abs(other[k] - expected[k]) for k in expected) > 1e-5  # random weights: small, never 0
    Image.fromarray(grey).save(tmp_path / "x.jpg", quality=95)  # lossy: runs, and stays close
    assert len(infer_top(cli, path, tmp_path / "x.jpg")) == 10


def test_infer_image_errors(cli, fixture_dir, tmp_path):
    from PIL import Image
    path = os.path.join(fixture_dir, "fmnist.dyn")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    check_fails_cleanly(run(cli, "infer", path, "--image", str(tmp_path / "bad.png")), "bad.png",
                        "not a PNG, JPEG, BMP, TGA or binary PGM/PPM image")
    (tmp_path / "notes.txt").write_text("hello")
    check_fails_cleanly(run(cli, "infer", path, "--image", str(tmp_path / "notes.txt")), "notes.txt", "convert it")
    Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(tmp_path / "deep.png")
    check_fails_cleanly(run(cli, "infer", path, "--image", str(tmp_path / "deep.png")), "16-bit")
    good = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    check_fails_cleanly(run(cli, "infer", path, "--image", str(tmp_path / "cut.png")), "cut.png")


def check_fails_cleanly(r, *says):
    assert r.returncode == 1, (r.returncode, r.stderr)  # negative would mean killed by a signal
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for s in says:
        assert s in lines[0], lines[0]


def test_truncated_and_bit_flipped_packages(cli, fixture_dir, tmp_path):
    data = (tmp_path / "src").write_bytes(b"") or open(os.path.join(fixture_dir, "fmnist.dyn"), "rb").read()
    rng = random.Random(3)
    for cut in [0, 3, 8, 50, len(data) // 3, len(data) - 1]:
        p = tmp_path / f"cut{cut}.dyn"
        p.write_bytes(data[:cut])
        check_fails_cleanly(run(cli, "info", str(p)), str(p))
    for i in range(12):
        flipped = bytearray(data)
        pos = rng.randrange(len(data))
        flipped[pos] ^= 1 << rng.randrange(8)
        p = tmp_path / f"flip{i}.dyn"
        p.write_bytes(bytes(flipped))
        check_fails_cleanly(run(cli, "info", str(p)), str(p))


def test_usage_errors(cli, fixture_dir):
    path = os.path.join(fixture_dir, "fmnist.dyn")
    check_fails_cleanly(run(cli, "info"), "FILE is required", "see dyndnn info --help")
    check_fails_cleanly(run(cli, "info", path, "--bogus"), "not expected: --bogus")
    check_fails_cleanly(run(cli, "infer", path, "--op", "missing"), "no operating point named 'missing'")
    check_fails_cleanly(run(cli, "infer", path, "--config", '{"ks": 9, "e": 3, "d": 2, "r": 28}'), "'ks'[0] = 9")
    check_fails_cleanly(run(cli, "infer", path, "--image", "/nonexistent.pgm"), "cannot open")
    check_fails_cleanly(run(cli, "frobnicate"), "unknown verb")
    check_fails_cleanly(run(cli, "bench", path, "--threads", "0"), "--threads: must be in 1..4096, not 0")
    check_fails_cleanly(run(cli, "bench", path, "--runs", "-3"), "--runs: must be > 0, not -3")
    check_fails_cleanly(run(cli, "bench", path, "--runs", "many"), "--runs: 'many' is not a number")
    check_fails_cleanly(run(cli, "infer", path, "--op", "level0", "--config", "{}"), "--op excludes --config")
    check_fails_cleanly(run(cli, "eval", path), "--data is required")
    check_fails_cleanly(run(cli, "info", path, "--graph"), "--graph: 1 required OP missing")
    check_fails_cleanly(run(cli, "hw", "extra"), "not expected: extra")
    assert run(cli, "info", "--help").returncode == 0
    assert run(cli, "bench", path, "--runs=2", "--warmup=0", "--json").returncode == 0  # --key=value works too


def test_backends_and_kernel_report(cli, fixture_dir):
    """--backend picks the operator library; `info --kernels` counts the kernels over all operating points and
    lists the nodes on reference code (none with `auto`, every one with `reference`)."""
    path = os.path.join(fixture_dir, "fmnist.dyn")
    auto = json.loads(run(cli, "info", path, "--kernels", "--json").stdout)
    assert auto["reference"] == [] and sum(auto["kernels"].values()) > 0
    xnn = run(cli, "info", path, "--kernels", "--json", "--backend", "xnnpack")
    assert xnn.returncode == 0, xnn.stderr
    xnn = json.loads(xnn.stdout)
    assert xnn["backend"] == "xnnpack" and any(k.startswith("xnnpack:conv") for k in xnn["kernels"])
    assert xnn["reference"] == []
    ref = json.loads(run(cli, "info", path, "--kernels", "--json", "--backend", "reference").stdout)
    assert ref["backend"] == "reference"
    # the same operating point gives the same top classes on each backend
    tops = {}
    for b in ("onednn", "xnnpack", "aten", "reference"):
        r = run(cli, "infer", path, "--op", "random2", "--json", "--backend", b)
        assert r.returncode == 0, r.stderr
        tops[b] = [c["class"] for c in json.loads(r.stdout)["top"]]
    assert len({tuple(t) for t in tops.values()}) == 1, tops
    # bench names the kernels it ran on
    r = run(cli, "bench", path, "--op", "random2", "--runs", "2", "--warmup", "0", "--json", "--backend", "xnnpack")
    assert r.returncode == 0, r.stderr
    bench = json.loads(r.stdout)
    assert bench["backend"] == "xnnpack" and any(k.startswith("xnnpack:") for k in bench["kernels"])
    assert "kernels: " in run(cli, "bench", path, "--runs", "2", "--warmup", "0").stdout
    check_fails_cleanly(run(cli, "info", path, "--kernels", "--backend", "nope"), "--backend")


def test_export(cli, tmp_path):
    """`dyndnn export`: one operating point of the shipped model as a static package that `dyndnn eval` scores
    exactly as the operating point itself, in a fraction of the file."""
    shipped = os.path.join(os.environ.get("DYNDNN_SOURCE_DIR", "."), "models", "fmnist_ofa_mbv3.dyn")
    info = json.loads(run(cli, "info", shipped, "--json").stdout)
    op = info["operating_points"][2]["name"]
    out = tmp_path / "level.dyn"
    r = run(cli, "export", shipped, "--op", op, str(out), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["operating_point"] == op and report["max_relative_difference"] <= 1e-5
    assert report["file_bytes"] < report["source_bytes"] / 2
    exported = json.loads(run(cli, "info", str(out), "--json").stdout)
    assert exported["family"] == "static_graph" and [p["name"] for p in exported["operating_points"]] == [op]
    assert exported["operating_points"][0]["accuracy"] == info["operating_points"][2]["accuracy"]

    def top1(path, *extra):
        r = subprocess.run([cli, "eval", path, "--data", "/usr/share/datasets/fashion-mnist", "--limit", "2000",
                            "--json", *extra], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["operating_points"][0]["top1"]

    assert top1(str(out)) == top1(shipped, "--op", op)
    check_fails_cleanly(run(cli, "export", shipped, str(out)), "say which sub-network to export")
    check_fails_cleanly(run(cli, "export", shipped, "--op", "nope", str(out)), "no operating point named 'nope'")
    check_fails_cleanly(run(cli, "export", shipped, "--op", op, str(tmp_path / "missing" / "x.dyn")), "cannot open")
    check_fails_cleanly(run(cli, "infer", str(out), "--config", '{"ks": 3}'), "no knobs")
