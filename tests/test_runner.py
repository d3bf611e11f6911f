"""End-to-end sweeps through the CLI: real workers, real frameworks, tiny sizes.

Failure paths use the worker's test-only fault hook (DLBENCH_FAULT, see suite.worker).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapter_helpers import required_frameworks
from suite.storage import load_measurements, read_run_info
from suite.topology import core_list, read_topology

FAST = ["--image-size", "32", "--min-time", "0.05", "--max-time", "0.3", "--quiet",
        "--no-report", "--processes", "1"]


def dlbench(*args, fault=None, timeout=600):
    env = dict(os.environ)
    env.pop("DLBENCH_FAULT", None)
    if fault:
        env["DLBENCH_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def points(run_dir: Path) -> dict[tuple, object]:
    return {(m.spec.framework, m.spec.optimization, m.spec.batch_size, m.spec.threads): m
            for m in load_measurements(run_dir)}


def installed(name: str) -> bool:
    from frameworks import get_adapter
    return get_adapter(name).availability().ok


@pytest.mark.slow
def test_infer_sweep_across_frameworks(tmp_path):
    out = tmp_path / "run"
    topo = read_topology()
    threads = [2] if topo.physical_cores >= 2 else [1]    # pinning two threads; one core too
    # the deployed modes only: each adapter's other modes are built and run by
    # test_equivalence.py; this test is about the sweep, its processes and its pinning
    r = dlbench("infer", "--frameworks", "pytorch,onnx,tensorflow,mxnet", "--models", "resnet18",
                "--batches", "2", "--threads", ",".join(map(str, threads)), "--opts",
                "script", "--out", str(out), *FAST)
    assert r.returncode == 0, r.stderr
    info = read_run_info(out)
    assert info.config["threads"] == threads
    assert info.environment["physical_cores"] == topo.physical_cores
    pts = points(out)
    assert len(pts) == 4 * len(threads)
    for (fw, opt, bs, n), m in pts.items():
        if not installed(fw):
            assert fw not in required_frameworks(), f"{fw} is required: {m.message}"
            assert m.status == "skipped" and "install" in m.message
            continue
        assert m.status == "ok", (fw, opt, m.message)
        assert m.summary["items_per_second"] > 0 and len(m.samples_ns) >= 10
        assert m.cold_start_ns > 0 and m.memory["peak_rss_mib"] > 50
        assert m.spec.input_size == 32 and m.flops_per_item > 0
        # pinning really restricted every thread of the worker to the listed cores
        assert m.placement["cores"] == core_list(topo, n, "sequential", ht=False)
        assert set(m.placement["observed_cpus"]) <= set(m.placement["cores"])


@pytest.mark.slow
def test_train_sweep_skips_what_does_not_exist(tmp_path):
    out = tmp_path / "run"
    r = dlbench("train", "--frameworks", "pytorch,mxnet,tensorflow,onnx", "--models",
                "resnet18,bert_base", "--batches", "2", "--samples", "40", "--out", str(out),
                *FAST)
    assert r.returncode == 0, r.stderr
    ms = load_measurements(out)
    assert len(ms) == 4 * 2
    for m in ms:
        if m.spec.framework == "onnx":
            assert m.status == "skipped" and "inference only" in m.message
        elif m.spec.model == "bert_base":
            assert m.status == "skipped" and "image classifiers" in m.message
        elif installed(m.spec.framework):
            assert m.status == "ok", m.message
            # --samples 40 bounds the images, unless the point went on for its minimum
            # steps or a precision within reach, which the time cap (3 x --max-time)
            # bounds (plus the step that crossed it)
            assert sum(m.samples_ns) > 0
            assert len(m.samples_ns) * m.spec.batch_size <= 40 + 4 or \
                sum(m.samples_ns) <= 3 * 0.3e9 + max(m.samples_ns)
        else:
            assert m.spec.framework not in required_frameworks(), m.message


@pytest.mark.slow
def test_crash_timeout_and_oom_end_only_their_point(tmp_path):
    out = tmp_path / "crash"
    r = dlbench("infer", "--models", "resnet18", "--batches", "1,2,4", "--threads", "1",
                "--opts", "none", "--out", str(out), *FAST, fault="crash@resnet18:2")
    assert r.returncode == 0, r.stderr
    pts = points(out)
    assert pts[("pytorch", "none", 2, 1)].status == "error"
    assert "SIGSEGV" in pts[("pytorch", "none", 2, 1)].message
    assert pts[("pytorch", "none", 1, 1)].status == "ok"
    assert pts[("pytorch", "none", 4, 1)].status == "ok"     # a fresh worker went on

    out = tmp_path / "hang"
    r = dlbench("infer", "--models", "resnet18", "--batches", "1,2", "--threads", "1",
                "--opts", "none", "--timeout", "10", "--out", str(out), *FAST,
                fault="hang@resnet18:1")
    assert r.returncode == 0, r.stderr
    pts = points(out)
    assert pts[("pytorch", "none", 1, 1)].status == "timeout"
    assert pts[("pytorch", "none", 2, 1)].status == "ok"

    out = tmp_path / "oom"
    r = dlbench("infer", "--models", "resnet18", "--batches", "1,2,4", "--threads", "1",
                "--opts", "none", "--memory-limit", "2500", "--out", str(out), *FAST,
                fault="alloc@resnet18:2")
    assert r.returncode == 0, r.stderr
    pts = points(out)
    assert pts[("pytorch", "none", 1, 1)].status == "ok"
    assert pts[("pytorch", "none", 2, 1)].status == "oom"
    assert "memory limit" in pts[("pytorch", "none", 2, 1)].message
    larger = pts[("pytorch", "none", 4, 1)]
    assert larger.status == "oom" and larger.message.startswith("not run")


@pytest.mark.slow
def test_real_out_of_memory_under_a_small_limit(tmp_path):
    """No fault injection: at 224 px vgg16's weights alone (528 MiB) plus the framework
    cannot fit in 600 MiB."""
    out = tmp_path / "run"
    r = dlbench("infer", "--models", "vgg16", "--batches", "1", "--threads", "1", "--opts",
                "none", "--memory-limit", "600", "--out", str(out), *FAST, "--image-size", "224")
    assert r.returncode == 0, r.stderr
    (m,) = load_measurements(out)
    assert m.status == "oom", m.message


@pytest.mark.slow
def test_interrupted_run_resumes_only_missing_points(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "suite", "infer", "--models", "resnet18", "--batches",
            "1,2,4,8", "--threads", "1", "--opts", "none", "--out", str(out), *FAST]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    jsonl = out / "points.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and \
            (not jsonl.exists() or len(jsonl.read_text().splitlines()) < 1):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"--resume" in err
    before = jsonl.read_text().splitlines()
    assert 1 <= len(before) < 4
    r = dlbench("infer", "--models", "resnet18", "--batches", "1,2,4,8", "--threads", "1",
                "--opts", "none", "--out", str(out), "--resume", *FAST)
    assert r.returncode == 0, r.stderr
    after = jsonl.read_text().splitlines()
    assert after[: len(before)] == before                  # nothing re-measured
    assert len(after) == 4                                 # exactly the missing points added
    assert sorted(json.loads(line)["spec"]["batch_size"] for line in after) == [1, 2, 4, 8]


def test_existing_results_are_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "points.jsonl").write_text("")
    r = dlbench("infer", "--models", "resnet18", "--out", str(out), *FAST)
    assert r.returncode == 2 and "--resume" in r.stderr


def test_unsupported_dtype_is_skipped_with_reason(tmp_path):
    out = tmp_path / "run"
    r = dlbench("infer", "--frameworks", "mxnet,tensorflow", "--dtype", "bfloat16", "--models",
                "resnet18", "--batches", "1", "--threads", "1", "--opts", "none", "--out",
                str(out), *FAST)
    assert r.returncode == 0, r.stderr
    ms = load_measurements(out)
    assert len(ms) == 2
    assert all(m.status == "skipped" and "bfloat16" in m.message for m in ms), ms
    assert not (out / "workers.log").exists()  # decided before any worker started


# --- nothing lost: torn lines, full disks, signals, killed workers (issue 11, item 6) ----

SMALL = ["infer", "--models", "resnet18", "--threads", "1", "--opts", "none"]


def _live_processes(field: int, value: int) -> list[int]:
    """Live processes whose /proc stat field `field` (after the name: 1 ppid, 2 pgrp) is
    `value`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[field]) == value and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (from /proc)."""
    return _live_processes(1, pid)


def in_group(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    return _live_processes(2, pgid)


def start_sweep(out: Path, batches: str, fault: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("DLBENCH_FAULT", None)
    if fault:
        env["DLBENCH_FAULT"] = fault
    return subprocess.Popen([sys.executable, "-m", "suite", *SMALL, "--batches", batches,
                             "--out", str(out), *FAST], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for_worker(proc: subprocess.Popen, settle_s: float = 2.0) -> list[int]:
    """The runner's worker pids, once it has one and that one had `settle_s` to get going."""
    deadline = time.monotonic() + 180
    while not children(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    time.sleep(settle_s)
    workers = children(proc.pid)
    assert workers and proc.poll() is None
    return workers


@pytest.mark.slow
def test_resume_repairs_a_torn_line_and_loses_no_point(tmp_path):
    out = tmp_path / "run"
    r = dlbench(*SMALL, "--batches", "1,2", "--out", str(out), *FAST)
    assert r.returncode == 0, r.stderr
    jsonl = out / "points.jsonl"
    lines = jsonl.read_bytes().splitlines(keepends=True)
    os.truncate(jsonl, len(lines[0]) + len(lines[1]) // 2)     # a crash mid-write of line 2
    r = dlbench(*SMALL, "--batches", "1,2,4", "--out", str(out), "--resume", *FAST)
    assert r.returncode == 0, r.stderr
    assert f"dlbench: warning: {jsonl}:2: removed a line torn by an interrupted write" \
        in r.stderr
    after = jsonl.read_text().splitlines()
    assert [json.loads(line)["spec"]["batch_size"] for line in after] == [1, 2, 4]
    info = read_run_info(out)
    assert "--resume" not in info.command and len(info.resumes) == 1
    assert "--resume" in info.resumes[0]["command"]
    assert info.resumes[0]["environment"]["versions"] == info.environment["versions"]


@pytest.mark.slow
def test_full_disk_mid_sweep_is_one_line_and_keeps_measured_points(tmp_path, monkeypatch,
                                                                    capsys):
    import errno

    from suite import cli
    out = tmp_path / "run"
    real_fsync, appends = os.fsync, []

    def fsync(fd):
        appends.append(fd)
        if len(appends) == 2:          # the second point's append: the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    # children from earlier tests in this process (multiprocessing's resource tracker,
    # started by torch's spawn in the DDP tests) are not this sweep's
    before = set(children(os.getpid()))
    code = cli.main([*SMALL, "--batches", "1,2,4", "--out", str(out), *FAST])
    monkeypatch.undo()
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert err == [f"dlbench: error: cannot write {out / 'points.jsonl'}: No space left on "
                   f"device; the points before this one are kept: continue with --resume "
                   f"--out {out}"]
    assert [m.spec.batch_size for m in load_measurements(out)] == [1]
    assert not set(children(os.getpid())) - before      # the worker was stopped


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_and_sighup_stop_the_workers_and_exit_like_ctrl_c(tmp_path, sig):
    out = tmp_path / "run"
    proc = start_sweep(out, "1-8")
    workers = wait_for_worker(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err       # 143 for SIGTERM, 129 for SIGHUP
    assert f"stopped by {sig.name}" in err and f"continue with --resume --out {out}" in err
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(in_group(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for pid in workers for p in in_group(pid)]   # no orphan left
    assert len(load_measurements(out)) < 8                     # finished points readable


@pytest.mark.slow
def test_a_users_kill_9_is_reported_as_a_signal_not_oom(tmp_path):
    out = tmp_path / "run"
    proc = start_sweep(out, "1,2", fault="hang@resnet18:1")   # batch 1 never finishes
    (worker,) = wait_for_worker(proc)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    pts = points(out)
    killed = pts[("pytorch", "none", 1, 1)]
    assert killed.status == "error"
    assert "killed by signal 9 (SIGKILL)" in killed.message
    assert pts[("pytorch", "none", 2, 1)].status == "ok"      # a fresh worker went on


def test_death_is_oom_only_when_the_kernel_oom_killer_counted_it():
    from suite.runner import death_failure
    oom = death_failure(-signal.SIGKILL, 3, 4)
    assert oom.status == "oom" and "out-of-memory killer" in oom.message
    user = death_failure(-signal.SIGKILL, 3, 3)
    assert user.status == "error"
    assert "killed by signal 9 (SIGKILL); not by the kernel's out-of-memory killer" \
        in user.message
    unknown = death_failure(-signal.SIGKILL, None, None)
    assert unknown.status == "error" and "unknown here" in unknown.message
    segv = death_failure(-signal.SIGSEGV, 3, 4)      # a count that rose does not make a crash oom
    assert segv.status == "error" and "signal 11 (SIGSEGV)" in segv.message
    assert death_failure(3, None, None).message.startswith("worker crashed (exit code 3)")


@pytest.mark.parametrize("cgroup,files,expected", [
    ("0::/user.slice/job\n", {"user.slice/job/memory.events": "low 0\noom 2\noom_kill 2\n"}, 2),
    ("4:memory:/job\n0::/\n", {"memory/job/memory.oom_control":
                               "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"}, 5),
    ("4:memory:/elsewhere\n", {"memory/memory.oom_control": "oom_kill 1\n"}, 1),
    ("0::/\n", {}, None),
])
def test_oom_kill_counter_of_cgroup_v1_and_v2(tmp_path, cgroup, files, expected):
    from suite.oomkill import oom_kill_count
    (tmp_path / "cgroup").write_text(cgroup)
    for rel, text in files.items():
        (tmp_path / "fs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / rel).write_text(text)
    assert oom_kill_count(tmp_path / "cgroup", tmp_path / "fs") == expected


# --- --processes: a point in several fresh workers ----------------------------------------

@pytest.mark.slow
def test_processes_measure_each_point_in_fresh_workers(tmp_path):
    out = tmp_path / "run"
    r = dlbench("infer", "--frameworks", "pytorch", "--models", "resnet18", "--batches", "1,2",
                "--threads", "1", "--opts", "none", "--out", str(out), *FAST,
                "--processes", "3", "--max-processes", "3", "--no-worker-per-point",
                "--schedule", "sequential", "--no-control")
    assert r.returncode == 0, r.stderr
    assert read_run_info(out).config["processes"] == 3
    ms = load_measurements(out)
    assert len(ms) == 2
    pids_per_pass = []
    for m in ms:
        assert m.status == "ok", m.message
        counts = m.samples_per_process
        assert len(counts) == 3 and sum(counts) == len(m.samples_ns) and min(counts) >= 10
        pids = [p["worker_pid"] for p in m.meta["processes"]]
        assert len(set(pids)) == 3                      # three fresh processes
        pids_per_pass.append(pids)
        assert m.summary["processes"] == 3
        assert m.summary["iterations"] == len(m.samples_ns)
    assert pids_per_pass[0] == pids_per_pass[1]         # both points share each pass's worker


def test_a_process_that_fails_fails_the_point():
    from suite.spec import Measurement, PointSpec, combine_processes
    spec = PointSpec(task="infer", framework="pytorch", optimization="none", model="resnet18",
                     batch_size=1, input_size=32)
    good = Measurement(spec, samples_ns=[1_000_000] * 10, items_per_step=1,
                       memory={"peak_rss_mib": 100.0}, meta={"worker_pid": 1})
    bad = Measurement(spec, status="error", message="worker crashed (signal SIGSEGV)")
    combined = combine_processes([good, bad])
    assert combined.status == "error" and combined.message.startswith("process 2: worker crashed")
    other = Measurement(spec, samples_ns=[2_000_000] * 12, items_per_step=1,
                        memory={"peak_rss_mib": 120.0}, meta={"worker_pid": 2})
    both = combine_processes([good, other])
    assert both.samples_per_process == [10, 12] and len(both.samples_ns) == 22
    assert both.memory["peak_rss_mib"] == 120.0              # the largest of any process
    assert [p["worker_pid"] for p in both.meta["processes"]] == [1, 2]


@pytest.mark.parametrize("value", ["0", "-2", "1000"])
def test_processes_out_of_range_is_a_usage_error(tmp_path, value):
    r = dlbench("infer", "--models", "resnet18", "--out", str(tmp_path / "r"), *FAST,
                "--processes", value)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--processes" in r.stderr


def test_processes_share_the_time_budget():
    from suite.sweep import SweepConfig, loop_settings
    cfg = SweepConfig(task="train", frameworks=["pytorch"], models=["resnet18"], batches=[4],
                      optimizations={"pytorch": ["none"]}, threads=[1], min_time=3.0,
                      max_time=9.0, samples=100, processes=3)
    loop = loop_settings(cfg)["loop"]
    assert loop["min_time_s"] == 1.0 and loop["max_time_s"] == 3.0 and loop["max_items"] == 34
    assert loop["warmup_min_iterations"] >= 20          # training warms up for longer
    infer = loop_settings(SweepConfig(task="infer", frameworks=["pytorch"], models=["resnet18"],
                                      batches=[4], optimizations={"pytorch": ["none"]},
                                      threads=[1]))["loop"]
    assert "warmup_min_iterations" not in infer and "max_items" not in infer


def test_an_interrupted_processes_group_keeps_what_it_measured(tmp_path):
    """Ctrl-C in the second of three passes: the first pass's parts are stored (nothing
    measured is lost), marked interrupted, and --resume measures those points again."""
    from suite.progress import ConsoleReporter
    from suite.runner import Runner, RunOptions
    from suite.spec import Measurement, PointSpec
    from suite.storage import finished_keys

    specs = [PointSpec(task="infer", framework="pytorch", optimization="none",
                       model="resnet18", batch_size=b, input_size=32) for b in (1, 2)]

    class Interrupted(Runner):
        passes = 0

        def run_pass(self, group, record):
            self.passes += 1
            for k, spec in enumerate(group):
                if self.passes == 2 and k == 1:
                    raise KeyboardInterrupt
                record(Measurement(spec, samples_ns=[1_000_000 + j for j in range(12)],
                                   items_per_step=spec.batch_size,
                                   memory={"peak_rss_mib": 100.0},
                                   meta={"worker_pid": self.passes}))

    runner = Interrupted(tmp_path, read_topology(), RunOptions(settings={}, processes=3),
                         ConsoleReporter(quiet=True), lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        runner.run(specs)
    stored = {m.spec.batch_size: m for m in load_measurements(tmp_path)}
    assert sorted(stored) == [1, 2]
    assert stored[1].samples_per_process == [12, 12] and len(stored[2].samples_ns) == 12
    assert all("interrupted after" in m.message for m in stored.values())
    assert finished_keys(tmp_path) == set()          # --resume measures both again


def test_processes_share_the_step_budget_and_its_cap():
    from suite.sweep import SweepConfig, loop_settings
    cfg = SweepConfig(task="infer", frameworks=["pytorch"], models=["resnet18"], batches=[4],
                      optimizations={"pytorch": ["none"]}, threads=[1], max_time=9.0,
                      min_steps=60, time_cap=27.0, processes=3)
    loop = loop_settings(cfg)["loop"]
    assert loop["min_steps"] == 20 and loop["cap_time_s"] == 9.0 and loop["max_time_s"] == 3.0


def test_imprecise_points_get_more_processes_while_they_can_reach_the_precision(tmp_path):
    """Past --processes 3, a point whose CI across processes is still too wide runs in a
    fresh process again while the processes its spread needs fit within --max-processes 5
    (batch 1: 1.5% spread, 5 needed); a point whose processes disagree by 10% (batch 2: 7+
    needed) stops at 3 and says so, as does a precise one (batch 4)."""
    from suite.progress import ConsoleReporter
    from suite.runner import Runner, RunOptions
    from suite.spec import Measurement, PointSpec

    specs = [PointSpec(task="infer", framework="pytorch", optimization="none",
                       model="resnet18", batch_size=b, input_size=32) for b in (1, 2, 4)]
    step_ms = {1: [1.0, 1.025, 0.995, 1.0, 1.0], 2: [1.0, 1.1, 0.9, 1.0, 1.0],
               4: [1.0] * 5}

    class Fake(Runner):
        groups: list = []

        def run_pass(self, group, record):
            self.groups.append([s.batch_size for s in group])
            for spec in group:
                ms = step_ms[spec.batch_size][len(self.groups) - 1]
                record(Measurement(spec, samples_ns=[int(ms * 1e6)] * 12,
                                   items_per_step=spec.batch_size,
                                   memory={"peak_rss_mib": 100.0},
                                   meta={"worker_pid": len(self.groups)}))

    runner = Fake(tmp_path, read_topology(),
                  RunOptions(settings={"loop": {"precision": 0.02}}, processes=3,
                             max_processes=5), ConsoleReporter(quiet=True), lambda s: None)
    runner.run(specs)
    assert runner.groups == [[1, 2, 4], [1, 2, 4], [1, 2, 4], [1], [1]]
    stored = {m.spec.batch_size: m for m in load_measurements(tmp_path)}
    assert stored[1].samples_per_process == [12] * 5 and stored[1].precision_reached
    assert stored[2].samples_per_process == [12] * 3 and not stored[2].precision_reached
    assert "the processes differ by 10.0% (sd)" in stored[2].message
    assert stored[4].samples_per_process == [12] * 3 and stored[4].precision_reached


def test_an_imprecise_point_says_whether_its_processes_or_its_steps_hold_it_back():
    from suite.schedule import combined_point
    from suite.spec import Measurement, PointSpec
    spec = PointSpec(task="infer", framework="pytorch", optimization="none",
                     model="resnet18", batch_size=1, input_size=32)
    settings = {"loop": {"precision": 0.02}}

    def part(ms):
        return Measurement(spec, samples_ns=[int(v * 1e6) for v in ms],
                           items_per_step=1, memory={"peak_rss_mib": 100.0})

    scattered = combined_point([part([80, 120] * 6) for _ in range(3)], settings)
    assert not scattered.precision_reached
    assert scattered.message.endswith("the processes agree (0.0% sd): their steps scatter "
                                      "too much)")
    apart = combined_point([part([v] * 12) for v in (95, 100, 105)], settings)
    assert not apart.precision_reached
    assert apart.message.endswith("the processes differ by 5.0% (sd), about 27 processes "
                                  "would reach it)")
