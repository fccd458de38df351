"""dyndnn profile / run: the runtime manager's verbs on the random-weight Fashion-MNIST fixture (no timing assertions)."""
import json
import os
import subprocess


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)


def test_profile_resumes_and_run_traces(cli, fixture_dir, tmp_path):
    pkg = os.path.join(fixture_dir, "fmnist.dyn")
    prof = tmp_path / "p.json"
    r = run(cli, "profile", pkg, "-o", str(prof), "--runs", "3", "--warmup", "1", "--threads-list", "1,2")
    assert r.returncode == 0, r.stderr
    p = json.loads(prof.read_text())
    assert p["format"] == "dyndnn-profile" and len(p["entries"]) == 16
    assert {e["hw"]["threads"] for e in p["entries"]} == {1, 2}
    assert all(e["latency_ms"] > 0 and e["latency_std_ms"] >= 0 for e in p["entries"])
    # A second run resumes: nothing left to measure, same entries.
    r = run(cli, "profile", pkg, "-o", str(prof), "--runs", "3", "--threads-list", "1,2")
    assert r.returncode == 0 and "resuming" in r.stderr
    assert len(json.loads(prof.read_text())["entries"]) == 16

    trace = tmp_path / "t.json"
    r = run(cli, "run", pkg, "--target-ms", "1000", "--frames", "40", "--profile", str(prof), "--trace", str(trace),
            "--budget-at", "20:0.001", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["frames"] == 40 and s["policy"] == "dyndnn"
    t = json.loads(trace.read_text())
    assert len(t["frames"]) == 40 and all(f["reason"] for f in t["frames"])
    # The budget becomes impossible at frame 20: the manager reports it cannot meet latency (best effort).
    assert t["frames"][-1]["unmet"] == "latency"
    assert s["unmet"] == "latency"


def test_profile_predict_reports_held_out_error(cli, fixture_dir, tmp_path):
    prof = tmp_path / "p.json"
    r = run(cli, "profile", os.path.join(fixture_dir, "fmnist.dyn"), "-o", str(prof), "--runs", "3", "--warmup", "1",
            "--threads-list", "1,2", "--predict")
    assert r.returncode == 0, r.stderr
    assert "held-out" in r.stdout or "too few" in r.stdout
    entries = json.loads(prof.read_text())["entries"]
    assert len(entries) == 16 and any(e["predicted"] for e in entries) and not all(e["predicted"] for e in entries)


def test_run_rejects_bad_targets(cli, fixture_dir):
    pkg = os.path.join(fixture_dir, "fmnist.dyn")
    for args, word in [(["--target-ms", "-2"], "latency_ms"), (["--target-ms", "5", "--min-acc", "nan"], "min_accuracy"),
                       (["--fps", "0"], "fps"), (["--target-ms", "5", "--policy", "nope"], "policy"),
                       (["--target-ms", "5", "--objective", "fast"], "objective")]:
        r = run(cli, "run", pkg, *args, "--frames", "2")
        assert r.returncode == 1 and word in r.stderr, (args, r.stderr)


def test_profile_simulated_platform(cli, fixture_dir, tmp_path):
    prof = tmp_path / "sim.json"
    r = run(cli, "profile", os.path.join(fixture_dir, "fmnist.dyn"), "-o", str(prof), "--runs", "3", "--warmup", "1",
            "--governor", "simulated:odroid-xu3")
    assert r.returncode == 0, r.stderr
    p = json.loads(prof.read_text())
    assert p["simulated"] and p["device"].startswith("SIMULATED")
    # 8 operating points x (13 A7 + 19 A15 frequencies) x 4 thread counts
    assert len(p["entries"]) == 8 * 32 * 4
    assert all(e["power_w"] > 0 for e in p["entries"])
    r = run(cli, "profile", os.path.join(fixture_dir, "fmnist.dyn"), "-o", str(prof), "--governor", "simulated:nope")
    assert r.returncode == 1 and "simulated" in r.stderr


def test_profile_json_on_stdout(cli, fixture_dir, tmp_path):
    prof = tmp_path / "p.json"
    r = run(cli, "profile", os.path.join(fixture_dir, "fmnist.dyn"), "-o", str(prof), "--runs", "2", "--warmup", "0",
            "--threads-list", "1", "--json")
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed == json.loads(prof.read_text()) and len(printed["entries"]) == 8


def test_every_verb_has_help_and_json(cli):
    """CLI polish: each verb documents itself and offers machine-readable output."""
    for verb in ("info", "infer", "bench", "eval", "hw", "profile", "run"):
        r = run(cli, verb, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: dyndnn {verb}"), (verb, r.stdout, r.stderr)
        assert "--json" in r.stdout, verb
