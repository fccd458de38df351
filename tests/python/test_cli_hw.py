"""`dyndnn hw`: detection on a fake board tree, the plain no-cpufreq statement, and --restore after SIGKILL."""
import json
import os
import subprocess


def run(cli, *args):
    return subprocess.run([cli, "hw", *args], capture_output=True, text=True, timeout=60)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def odroid_policy(root, n, cpus, top_khz):
    d = f"sys/devices/system/cpu/cpufreq/policy{n}/"
    levels = " ".join(str(f) for f in range(200000, top_khz + 1, 100000)) + " \n"
    write(root, d + "scaling_available_frequencies", levels)
    write(root, d + "scaling_available_governors", "conservative userspace powersave ondemand performance\n")
    write(root, d + "scaling_governor", "ondemand\n")
    write(root, d + "scaling_setspeed", "<unsupported>\n")
    write(root, d + "scaling_cur_freq", "1000000\n")
    write(root, d + "scaling_min_freq", "200000\n")
    write(root, d + "scaling_max_freq", f"{top_khz}\n")
    write(root, d + "related_cpus", " ".join(map(str, cpus)) + "\n")
    for c in cpus:
        write(root, f"sys/devices/system/cpu/cpu{c}/cpufreq/cpuinfo_max_freq", f"{top_khz}\n")


def test_hw_json_on_a_fake_odroid(cli, tmp_path):
    root = str(tmp_path)
    write(root, "sys/devices/system/cpu/online", "0-7\n")
    odroid_policy(root, 0, [0, 1, 2, 3], 1400000)
    odroid_policy(root, 4, [4, 5, 6, 7], 2000000)
    out = run(cli, "--json", "--root", root)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["cpus"]["little"] == [0, 1, 2, 3]
    assert report["cpus"]["big"] == [4, 5, 6, 7]
    cpufreq = report["backends"][0]
    assert cpufreq["name"] == "cpufreq" and cpufreq["available"]
    names = [k["name"] for k in cpufreq["knobs"]]
    assert names == ["cpufreq.policy0", "cpufreq.policy4"]
    assert cpufreq["knobs"][1]["levels"][-1] == 2000000
    assert cpufreq["knobs"][1]["current"] == 1000000
    # Detection only reads.
    assert open(os.path.join(root, "sys/devices/system/cpu/cpufreq/policy4/scaling_governor")).read() == "ondemand\n"


def test_hw_says_plainly_when_there_is_no_cpufreq(cli, tmp_path):
    write(str(tmp_path), "sys/devices/system/cpu/online", "0-1\n")
    out = run(cli, "--root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "No CPU frequency scaling here" in out.stdout


def test_hw_restore_from_a_state_file(cli, tmp_path):
    root = str(tmp_path / "root")
    rel = "sys/devices/system/cpu/cpufreq/policy0/scaling_governor"
    write(root, rel, "userspace")  # left behind by a killed governor
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": "dyndnn-hw-state", "version": 1, "pid": 1,
                                 "entries": [{"path": os.path.join(root, rel), "value": "ondemand\n"}]}))
    out = run(cli, "--restore", str(state))
    assert out.returncode == 0, out.stderr
    assert "restored 1 knob file" in out.stdout
    assert open(os.path.join(root, rel)).read() == "ondemand\n"
    assert not state.exists()
    out = run(cli, "--restore", str(state))  # nothing left to do is success for a supervisor
    assert out.returncode == 0 and "nothing to restore" in out.stdout
    state.write_text("{not json")
    out = run(cli, "--restore", str(state))
    assert out.returncode == 1 and "not valid JSON" in out.stderr
