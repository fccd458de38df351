#!/usr/bin/python3
"""dyndnnd measured: claim round trips and pushed grants, and two workloads as two processes.

    /usr/bin/python3 benchmarks/run_daemon.py [--build build] [--model models/fmnist_ofa_mbv3.dyn] [--repeats 3]
        [--frames 3000] [--out benchmarks/results/daemon.json]

The daemon runs on a fake cpufreq tree (one policy, userspace governor; this VM has no cpufreq) in /dev/shm (tmpfs,
memory-only like sysfs: on ext4 every rewrite of a small file costs a block write on close): its knob writes are
real file writes, the cores it shares out are this machine's real CPUs, which each client pins its own threads to.
Round trips are measured twice: as they come (the processes wherever Linux puts them) and with the daemon and the
client on one CPU (a direct hand-over, so the daemon's own work shows), each beside the floor of any round trip
there (64 bytes to a forked echo process). Two workloads, a "detector" (priority 1, budget 1.3x the largest operating point's one-thread latency) and a
"classifier" (priority 0, 2.6x), each a process with its frame period equal to its budget, run (a) through one
dyndnnd, (b) as two processes each with its own manager choosing among the same cores alone. Every part is
repeated; the summary gives the median and the worst run.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def fake_cpufreq(root):
    d = os.path.join(root, "sys/devices/system/cpu/cpufreq/policy0")
    os.makedirs(d)
    files = {"scaling_available_frequencies": "800000 1200000 1600000 2000000\n",
             "scaling_available_governors": "userspace performance schedutil\n", "scaling_governor": "schedutil\n",
             "scaling_setspeed": "<unsupported>\n", "scaling_cur_freq": "2000000\n", "scaling_min_freq": "800000\n",
             "scaling_max_freq": "2000000\n", "related_cpus": "0 1\n", "affected_cpus": "0 1\n"}
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


def start_daemon(build, tmp, prefix=()):
    root = os.path.join(tmp, "root")
    if not os.path.isdir(root):
        fake_cpufreq(root)
    sock = os.path.join(tmp, "dyndnn.sock")
    proc = subprocess.Popen([*prefix, os.path.join(build, "src/daemon/dyndnnd"), "--socket", sock, "--root", root,
                             "--state-file", os.path.join(tmp, "state.json")], stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
            return proc, sock
        except OSError:
            time.sleep(0.01)
    raise SystemExit("dyndnnd did not start")


def budgets(profile_path):
    entries = json.load(open(profile_path))["entries"]
    one = [e for e in entries if e["hw"].get("threads") == 1 and bin(e["hw"].get("affinity", 0)).count("1") == 1]
    largest = max(one, key=lambda e: e.get("accuracy", 0))
    ms = statistics.median(e["latency_ms"] for e in one if e["op"] == largest["op"])
    return largest["op"], ms, 1.3 * ms, 2.6 * ms


def workloads(bench, sock, profile, model, frames, det_ms, cls_ms, tmp):
    outs = [os.path.join(tmp, n + ".json") for n in ("detector", "classifier")]
    cls_frames = int(frames * det_ms / cls_ms)  # the same length of time
    procs = [subprocess.Popen([bench, "workload", sock, "detector", "1", str(det_ms), str(frames), profile, model,
                               outs[0]]),
             subprocess.Popen([bench, "workload", sock, "classifier", "0", str(cls_ms), str(cls_frames), profile,
                               model, outs[1]])]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("a workload process failed")
    return {n: json.load(open(o)) for n, o in zip(("detector", "classifier"), outs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default="models/fmnist_ofa_mbv3.dyn")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--out", default="benchmarks/results/daemon.json")
    a = ap.parse_args()
    bench = os.path.join(a.build, "benchmarks/bench_daemon")
    result = {"machine": "this VM: 2 vCPUs, no cpufreq (the daemon drives a fake cpufreq tree; cores are real)",
              "command": " ".join([sys.executable] + sys.argv), "model": a.model, "roundtrip": [], "runs": []}
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        profile = os.path.join(tmp, "profile.json")
        subprocess.run([os.path.join(a.build, "dyndnn"), "profile", a.model, "-o", profile, "--placements",
                        "--runs", "100", "--warmup", "20"], check=True,
                       stdout=subprocess.DEVNULL)
        largest, ms, det_ms, cls_ms = budgets(profile)
        result.update(largest_op=largest, largest_one_thread_ms=ms, budgets_ms={"detector": det_ms, "classifier": cls_ms})
        print(f"largest {largest}: {ms:.3f} ms on one core; budgets detector {det_ms:.3f} ms, classifier {cls_ms:.3f} ms")
        for r in range(a.repeats):
            for placement, prefix in (("any_cpu", ()), ("one_cpu", ("taskset", "-c", "0"))):
                proc, sock = start_daemon(a.build, tmp, prefix)
                try:
                    rt = json.loads(subprocess.run([*prefix, bench, "roundtrip", sock], check=True,
                                                   capture_output=True, text=True).stdout)
                finally:
                    proc.terminate()
                    proc.wait()
                rt["placement"] = placement
                result["roundtrip"].append(rt)
                print(f"round trip {r + 1} ({placement}): claim {rt['claim_round_trip']['median_us']:.1f} us median "
                      f"(p99 {rt['claim_round_trip']['p99_us']:.1f}), need -> pushed grant "
                      f"{rt['need_to_pushed_grant']['median_us']:.1f} us, echo floor "
                      f"{rt['echo_round_trip_floor']['median_us']:.1f} us, idle poll "
                      f"{rt['frame_poll_nothing_new']['median_us']:.2f} us")
            proc, sock = start_daemon(a.build, tmp)
            try:
                run = {"dyndnnd": workloads(bench, sock, profile, a.model, a.frames, det_ms, cls_ms, tmp)}
            finally:
                proc.terminate()
                proc.wait()
            run["own_managers"] = workloads(bench, "none", profile, a.model, a.frames, det_ms, cls_ms, tmp)
            result["runs"].append(run)
            for setup, w in run.items():
                print(f"run {r + 1} {setup:<12} " + " | ".join(
                    f"{n} {100 * w[n]['within_budget']:.1f}% within, {w[n]['switches']} switches, cpus {w[n]['cpus']}, "
                    f"CPU {w[n]['cpu_s']:.2f} s" for n in ("detector", "classifier")))
    summary = {}
    for setup in ("dyndnnd", "own_managers"):
        for n in ("detector", "classifier"):
            within = [run[setup][n]["within_budget"] for run in result["runs"]]
            summary[f"{setup}.{n}"] = {"within_median": statistics.median(within), "within_worst": min(within),
                                       "switches_median": statistics.median(run[setup][n]["switches"] for run in result["runs"]),
                                       "cpu_s_median": statistics.median(run[setup][n]["cpu_s"] for run in result["runs"])}
    for placement in ("any_cpu", "one_cpu"):
        rts = [r for r in result["roundtrip"] if r["placement"] == placement]
        for key in ("echo_round_trip_floor", "claim_round_trip", "need_to_pushed_grant", "frame_poll_nothing_new"):
            med = [r[key]["median_us"] for r in rts]
            summary[f"{placement}.{key}"] = {"median_us": statistics.median(med), "worst_median_us": max(med),
                                             "worst_p99_us": max(r[key]["p99_us"] for r in rts)}
    result["summary"] = summary
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(summary, indent=1))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
