"""Python models joining dyndnnd (a real daemon process on a fake Odroid tree) through set_runtime(arbiter=...)."""
import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

import dyndnn
from test_cli_hw import odroid_policy, write


@pytest.fixture
def daemon(tmp_path):
    path = os.environ.get("DYNDNN_DAEMON")
    if not path:
        pytest.fail("DYNDNN_DAEMON is not set: run the tests through ctest")
    root = str(tmp_path / "root")
    write(root, "sys/devices/system/cpu/online", "0-3\n")
    odroid_policy(root, 0, [0, 1, 2, 3], 1400000)
    sock = str(tmp_path / "dyndnn.sock")
    proc = subprocess.Popen([path, "--socket", sock, "--root", root, "--state-file", str(tmp_path / "state.json")],
                            stderr=subprocess.PIPE, text=True)
    for _ in range(500):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
            break
        except OSError:
            time.sleep(0.01)
    yield sock, root
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def profile_on_cores(model, khz):
    """Every operating point on cpu0 and cpu1 (cpu0 draws less) at one policy0 frequency."""
    p = dyndnn.Profile()
    for mask in (1, 2):
        for i, op in enumerate(model.operating_points):
            p.add(op["name"], {"affinity": mask, "threads": 1, "cpufreq.policy0": khz}, latency_ms=1000.0,
                  latency_std_ms=10.0, accuracy=60.0 + i % 7, power_w=1.0 if mask == 1 else 2.0)
    return p


def test_models_join_the_daemon_as_they_join_an_arbiter(daemon, fixture_dir):
    sock, root = daemon
    arbiter = dyndnn.connect_arbiter(sock)
    assert isinstance(arbiter, dyndnn.Arbiter) and arbiter.socket == sock
    x = np.random.rand(1, 1, 28, 28).astype(np.float32)
    models = []
    for name, priority, khz in (("classifier", 0, 800000), ("detector", 3, 1400000)):
        m = dyndnn.DynamicModel(os.path.join(fixture_dir, "fmnist.dyn"))
        m.set_runtime(profile=profile_on_cores(m, khz), arbiter=arbiter, name=name, priority=priority,
                      placements=[{"affinity": 1}, {"affinity": 2}], exclusive_knob="affinity")
        m.set_target(latency_ms=1e6, objective="least_energy")
        models.append(m)
    classifier, detector = models
    detector.infer(x)
    for _ in range(300):  # the classifier's new grant is pushed and read at its next frame
        classifier.infer(x)
        if classifier.runtime_stats()["current_hw"]["affinity"] == 2:
            break
        time.sleep(0.01)
    assert detector.runtime_stats()["current_hw"]["affinity"] == 1
    assert classifier.runtime_stats()["current_hw"]["affinity"] == 2
    with open(os.path.join(root, "sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed")) as f:
        assert f.read().strip() == "1400000"  # the higher need, written by the daemon


def test_connect_arbiter_without_a_daemon_is_an_os_error(tmp_path):
    with pytest.raises(dyndnn.HardwareError, match="no dyndnnd listens on"):
        dyndnn.connect_arbiter(str(tmp_path / "none.sock"))
    with pytest.raises(OSError):
        dyndnn.connect_arbiter(str(tmp_path / "none.sock"))
