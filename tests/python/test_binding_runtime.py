"""The runtime manager and hardware layer from Python: set_target/set_runtime, stats, traces, profiles, governors.

Budgets in the synthetic profiles are far above real latencies, so no assertion depends on this machine's speed.
"""
import ast
import json
import os
import re

import numpy as np
import pytest

import dyndnn


@pytest.fixture
def model(fixture_dir):
    return dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))


def synthetic_profile(model):
    """Accuracy grows with the index; latency too (seconds, far above any real frame)."""
    p = dyndnn.Profile()
    for i, op in enumerate(model.operating_points):
        p.add(op["name"], {"threads": 1}, latency_ms=1000.0 * (i + 1), latency_std_ms=10.0, accuracy=60.0 + i)
    return p


def test_invalid_targets_are_value_errors_naming_the_field(model):
    for kwargs, field in (({"fps": 0}, "fps"), ({"latency_ms": float("nan")}, "latency_ms"),
                          ({"min_accuracy": -1}, "min_accuracy"), ({"power_w": -2.0}, "power_w"),
                          ({"latency_ms": 5, "fps": 30}, "fps"), ({"objective": "fastest"}, "objective"),
                          ({"latency_ms": "fast"}, "latency_ms")):
        with pytest.raises(ValueError, match=field):
            model.set_target(**kwargs)
    assert not model.managed
    assert model.profile is None  # nothing was measured for a rejected target
    with pytest.raises(ValueError, match="set_target"):
        model.runtime_stats()


def cpp_fields(struct):
    """The data members of a struct in include/dyndnn/runtime.hpp, in order."""
    source = os.environ.get("DYNDNN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    text = open(os.path.join(source, "include", "dyndnn", "runtime.hpp")).read()
    body = re.search(r"struct " + struct + r" \{(.*?)\n\};", text, re.S).group(1)
    fields = []
    for line in body.splitlines():
        line = line.split("//")[0].strip()
        if line.endswith(";") and "(" not in line:
            declarators = line[:-1].split(None, 1)[1] if " " in line else ""
            declarators = re.sub(r"^[\w:<>, ]*?>\s*", "", declarators) if "<" in line.split()[0] else declarators
            fields += [d.split("=")[0].strip() for d in declarators.split(",")]
    return fields


def test_result_dicts_use_the_cpp_names(model):
    """runtime_stats() and runtime_trace() carry every field of ManagerStats / FrameRecord under its C++ name."""
    model.set_runtime(profile=synthetic_profile(model))
    model.set_target(latency_ms=1e9)
    model.infer(np.random.rand(1, 1, 28, 28).astype(np.float32))
    assert sorted(model.runtime_stats()) == sorted(cpp_fields("ManagerStats"))
    assert sorted(model.runtime_trace()[0]) == sorted(cpp_fields("FrameRecord"))


def test_manager_picks_the_point_and_manual_switch_suspends(model, tmp_path):
    model.set_runtime(profile=synthetic_profile(model))
    model.set_target(latency_ms=1e9)
    x = np.random.rand(1, 1, 28, 28).astype(np.float32)
    model.infer(x)
    names = [op["name"] for op in model.operating_points]
    assert model.active_name == names[-1]  # the most accurate fits a huge budget
    stats = model.runtime_stats()
    assert stats["frames"] == 1 and stats["unmet"] == "none" and stats["last_reason"]

    model.set_target(latency_ms=1500.0, confidence=0.5)  # only the first point (1 s) fits
    for _ in range(3):
        model.infer(x)
    assert model.active_name == names[0]

    model.set_subnet(names[2])
    assert not model.managed
    model.infer(x)
    assert model.active_name == names[2]
    assert model.runtime_stats()["suspended"]

    model.set_target(latency_ms=1e-3)  # infeasible: best effort, reported
    model.infer(x)
    assert "latency" in model.runtime_stats()["unmet"]

    trace = model.runtime_trace()
    assert [f["op"] for f in trace][:1] == [names[-1]]
    path = tmp_path / "trace.json"
    model.write_trace(str(path))
    assert len(json.loads(path.read_text())["frames"]) == len(trace)


def test_profile_round_trip_and_measure(model, tmp_path):
    measured = dyndnn.measure_profile(model, threads=[1], warmup=1, runs=2)
    assert len(measured) == len(model.operating_points)
    assert all(e["latency_ms"] > 0 and e["hw"] == {"threads": 1} for e in measured.entries)
    path = str(tmp_path / "p.json")
    measured.save(path)
    loaded = dyndnn.Profile.load(path)
    assert [e["op"] for e in loaded.entries] == [e["op"] for e in measured.entries]
    model.set_runtime(profile=path)
    assert len(model.profile) == len(measured)
    (tmp_path / "bad.json").write_text("{\"format\": \"something else\"}")
    with pytest.raises(ValueError):
        dyndnn.Profile.load(str(tmp_path / "bad.json"))
    with pytest.raises(OSError):
        dyndnn.Profile.load(str(tmp_path / "missing.json"))


def test_simulated_governor_and_detection():
    g = dyndnn.hw.make_simulated_governor("xavier_nx")
    assert g.simulated
    knob = next(k for k in g.knobs if k["name"] == "simulated.cpu.freq")
    g.apply({"simulated.cpu.freq": knob["levels"][0]})
    assert g.current()["simulated.cpu.freq"] == knob["levels"][0]
    with pytest.raises(ValueError):
        g.apply({"no.such.knob": 1})
    g.restore()
    with pytest.raises(ValueError, match="platform"):
        dyndnn.hw.make_simulated_governor("toaster")
    report = dyndnn.hw.detect()
    assert report["online_cpus"] and {b["name"] for b in report["backends"]} >= {"cpufreq", "affinity"}


def test_stub_lists_every_public_name():
    """The .pyi next to the module must describe what the module exports."""
    stub = open(os.path.join(os.path.dirname(dyndnn.__file__), "_core.pyi")).read()
    for name in dyndnn.__all__:
        assert name in stub, name
    for name in dir(dyndnn.DynamicModel):
        if not name.startswith("_"):
            assert f"def {name}" in stub, name


def test_two_models_share_one_arbiter(fixture_dir):
    """Each joins with its own priority and target; the detector (priority 1) gets the core both prefer, the
    classifier the other; when the detector goes, the classifier gets it back. No governor: nothing is pinned."""
    def on_cores(model):
        p = dyndnn.Profile()
        for mask, power in ((1, 1.0), (2, 2.0)):
            for i, op in enumerate(model.operating_points):
                p.add(op["name"], {"affinity": mask, "threads": 1}, latency_ms=1000.0, latency_std_ms=10.0,
                      accuracy=60.0 + i, power_w=power)
        return p

    arbiter = dyndnn.HardwareArbiter()
    cores = [{"affinity": 1}, {"affinity": 2}]
    classifier = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
    detector = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
    classifier.set_runtime(profile=on_cores(classifier), arbiter=arbiter, name="classifier", placements=cores,
                           exclusive_knob="affinity")
    detector.set_runtime(profile=on_cores(detector), arbiter=arbiter, name="detector", priority=1, placements=cores,
                         exclusive_knob="affinity")
    assert len(arbiter) == 2
    classifier.set_target(latency_ms=1e6, objective="least_energy")
    detector.set_target(latency_ms=1e6, objective="least_energy")
    assert arbiter.granted("detector") == {"affinity": 1}
    assert arbiter.granted("classifier") == {"affinity": 2}
    frame = np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)
    detector.infer(frame)
    classifier.infer(frame)
    assert detector.runtime_stats()["current_hw"]["affinity"] == 1
    assert classifier.runtime_stats()["current_hw"]["affinity"] == 2

    with pytest.raises(ValueError, match="already registered"):
        other = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
        other.set_runtime(profile=on_cores(other), arbiter=arbiter, name="detector", placements=cores,
                          exclusive_knob="affinity")
    with pytest.raises(ValueError, match="arbiter"):
        classifier.set_runtime(profile=on_cores(classifier), name="classifier")
    with pytest.raises(ValueError, match="name"):
        classifier.set_runtime(profile=on_cores(classifier), arbiter=dyndnn.HardwareArbiter())

    del detector, other
    import gc
    gc.collect()
    assert len(arbiter) == 1
    assert arbiter.granted("classifier") == {"affinity": 1}
    with pytest.raises(ValueError, match="detector"):
        arbiter.granted("detector")


def test_measure_profile_on_hardware_states(model):
    p = dyndnn.measure_profile(model, states=[{"threads": 1}], warmup=1, runs=2)
    assert {tuple(sorted(e["hw"].items())) for e in p.entries} == {(("threads", 1),)}
    with pytest.raises(ValueError, match="not both"):
        dyndnn.measure_profile(model, threads=[1], states=[{"threads": 1}])


def _pybind_signatures(fn):
    """Parameter lists (name, has default) of each overload, from pybind11's docstring signatures."""
    out = []
    for line in (fn.__doc__ or "").splitlines():
        m = re.match(r"^(?:\d+\. )?" + re.escape(fn.__name__) + r"\((.*)\) -> ", line.strip())
        if not m:
            continue
        params, depth, cur = [], 0, ""
        for ch in m.group(1) + ",":
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if ch == "," and depth == 0:
                if cur.strip():
                    params.append(cur.strip())
                cur = ""
            else:
                cur += ch
        # "*" marks the keyword-only parameters that follow (the stub says the same with its own "*")
        out.append([(p.split(":")[0].strip(), "=" in p) for p in params if p.split(":")[0].strip() not in ("self", "*")])
    return out


def _stub_signatures(stub_tree, owner, name):
    scope = next(n for n in stub_tree.body if isinstance(n, ast.ClassDef) and n.name == owner) if owner else stub_tree
    out = []
    for node in scope.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            defaults = len(node.args.defaults)
            positional = node.args.posonlyargs + node.args.args
            with_default = {a.arg for a in positional[len(positional) - defaults:]} if defaults else set()
            with_default |= {a.arg for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None}
            out.append([(a.arg, a.arg in with_default) for a in args if a.arg != "self"])
    return out


def test_stub_signatures_match_the_module():
    """Every method of the stub takes the parameters the compiled module takes: the same names, in the same order,
    the same ones optional (pybind11 writes each overload's signature into the docstring)."""
    stub = ast.parse(open(os.path.join(os.path.dirname(dyndnn.__file__), "_core.pyi")).read())
    checked = 0
    for owner, cls in (("DynamicModel", dyndnn.DynamicModel), ("Profile", dyndnn.Profile),
                       ("HardwareArbiter", dyndnn.HardwareArbiter), (None, dyndnn)):
        names = ["measure_profile"] if owner is None else [n for n in dir(cls) if not n.startswith("_")] + ["__init__"]
        for name in names:
            fn = getattr(cls, name)
            if not callable(fn) or isinstance(fn, type):
                continue
            real = _pybind_signatures(fn)
            if not real:
                continue  # a property or a plain attribute
            stubbed = _stub_signatures(stub, owner, name)
            assert stubbed, f"{owner}.{name}: not in the stub"
            for sig in real:
                assert sig in stubbed, f"{owner}.{name}: the module takes {sig}, the stub says {stubbed}"
            checked += 1
    assert checked >= 20  # the methods of the three classes and measure_profile (20 today): none skipped
