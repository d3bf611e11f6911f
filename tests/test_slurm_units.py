"""`--launcher slurm` without a cluster: checks made where the job runs, the job's CPUs on
its node, the payload, requeued jobs and squeue outages (a faked squeue), and the
per-node peak. tests/test_slurm.py runs the same launcher end to end on a real Slurm."""
import subprocess
from pathlib import Path

import pytest

from suite import storage
from suite.errors import UsageError
from suite.launchers import node, node_peak, slurm
from suite.runner import RunOptions
from suite.spec import Measurement, PointSpec
from suite.topology import Core, Topology


def spec(batch=1, threads=1, device="cpu", nproc=1) -> PointSpec:
    return PointSpec("infer" if nproc == 1 else "train", "pytorch", "none", "resnet18",
                     batch, 32, device=device, threads=threads, nproc_per_node=nproc)


def machine(cores: int) -> Topology:
    return Topology([Core(0, c, 0, (c,)) for c in range(cores)], {0: list(range(cores))})


# --- checks made where the points run ----------------------------------------------------

def resolve(*argv):
    from suite import commands
    from suite.cli import build_parser
    args = build_parser().parse_args(["infer", "--models", "resnet18", *argv])
    return commands.resolve(args, machine(2))


def test_a_login_node_submits_gpu_and_wide_sweeps_and_still_refuses_bad_input(monkeypatch):
    from suite import _native
    monkeypatch.setattr(_native, "cuda_available", lambda: False)
    cfg = resolve("--launcher", "slurm", "--device", "cuda", "--threads", "64")
    assert cfg.device == "cuda" and cfg.threads == [64]      # the nodes decide
    with pytest.raises(UsageError, match="--device cuda: .*--launcher slurm"):
        resolve("--device", "cuda")                          # local: this machine decides
    with pytest.raises(UsageError, match="valid: 1-2"):
        resolve("--threads", "64")
    for bad in (["--threads", "0"], ["--device", "tpu"], ["--threads", "1,x"]):
        with pytest.raises(UsageError):
            resolve("--launcher", "slurm", *bad)


def test_a_slurm_sweep_wider_than_this_machine_is_estimated_not_refused(capsys):
    """The submitting machine measures its peak only at the thread counts it has; the
    nodes measure theirs (a login node of 2 cores submits --threads 64)."""
    from suite import commands
    from suite.cli import build_parser
    import os
    wide = str((os.cpu_count() or 1) * 4)
    args = build_parser().parse_args(["infer", "--launcher", "slurm", "--threads", f"1,{wide}",
                                      "--models", "resnet18", "--batches", "1",
                                      "--image-size", "32", "--dry-run"])
    assert commands.run_sweep(args, []) == 0
    assert f"bs=1 thr={wide} " in capsys.readouterr().out


def test_bad_input_with_slurm_is_one_line_and_exit_2():
    import sys
    r = subprocess.run([sys.executable, "-m", "suite", "infer", "--launcher", "slurm",
                        "--threads", "0", "--dry-run"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_the_node_skips_what_it_cannot_run(monkeypatch):
    from suite import _native
    monkeypatch.setattr(_native, "cuda_available", lambda: False)
    monkeypatch.setattr(_native, "cuda_unavailable_reason", lambda: "no CUDA driver")
    two = machine(2)
    assert node.node_skip_reason(spec(threads=2), two) is None
    assert "3 threads exceed the 2 physical cores" in node.node_skip_reason(spec(threads=3),
                                                                            two)
    assert "need 4 physical cores" in node.node_skip_reason(spec(threads=2, nproc=2), two)
    assert node.node_skip_reason(spec(device="cuda"), two).startswith(
        "--device cuda: no CUDA driver on node ")


def test_the_jobs_cpus_are_its_cpuset_and_on_a_shared_node_its_tasks_bindings(
        tmp_path, monkeypatch):
    from suite.topology import online_cpus
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    proc.mkdir()
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})      # a bound task
    assert node.job_cpus(True, {}, proc, cgroup) == online_cpus()       # not {0}
    binding = {"SLURM_CPU_BIND_TYPE": "mask_cpu:", "SLURM_CPU_BIND_LIST": "0x4,0x8"}
    assert node.job_cpus(False, binding, proc, cgroup) == [2, 3]
    assert node.bind_list_cpus({"SLURM_CPU_BIND_TYPE": "map_cpu:",
                                "SLURM_CPU_BIND_LIST": "5,7"}) == [5, 7]
    (proc / "cpuset").write_text("/slurm_vm/uid_0/job_5/step_0\n")
    step = cgroup / "cpuset" / "slurm_vm" / "uid_0" / "job_5" / "step_0"
    step.mkdir(parents=True)
    (step / "cpuset.cpus").write_text("2-5\n")
    assert node.job_cpus(True, binding, proc, cgroup) == [2, 3, 4, 5]    # owns its cpuset
    assert node.job_cpus(False, binding, proc, cgroup) == [2, 3]
    (proc / "cpuset").unlink()                                # cgroup v2
    (proc / "cgroup").write_text("0::/system.slice/job_6\n")
    (cgroup / "system.slice" / "job_6").mkdir(parents=True)
    (cgroup / "system.slice" / "job_6" / "cpuset.cpus.effective").write_text("0-1,8\n")
    assert node.job_cpus(True, {}, proc, cgroup) == [0, 1, 8]


# --- the payload a job gets --------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.notes, self.finished = [], []

    def start(self, total, resumed): ...
    def point_started(self, spec): ...
    def point_finished(self, m): self.finished.append(m)
    def finish(self, measurements, run_dir): ...
    def note(self, text): self.notes.append(text)


def launcher(tmp_path, **slurm_options) -> slurm.SlurmLauncher:
    opts = RunOptions(settings={"loop": {}}, timeout_s=60, processes=3, max_processes=8)
    return slurm.SlurmLauncher(tmp_path, opts, Recorder(), lambda s: None,
                               slurm.SlurmOptions(poll_s=0, **slurm_options))


def test_the_payload_carries_max_processes_and_what_the_node_measures(tmp_path):
    from suite.launchers.slurm_job import job_options
    lr = launcher(tmp_path)
    lr._peak_request = node_peak.peak_request([spec(threads=2), spec(threads=1, nproc=2),
                                               spec(device="cuda")])
    payload = lr._payload([spec()])
    opts = job_options(payload, {"host": {}})
    assert (opts.processes, opts.max_processes) == (3, 8)
    assert payload["peak"] == {"threads": [2], "mapping": "sequential", "ht": False,
                               "gpu": True}
    assert payload["exclusive"] is True
    assert lr._resources([spec()])[3] == 60 * 8 // 60 + 5   # the time limit: 8 processes


# --- following jobs: requeues and squeue outages (a faked squeue) -------------------------

class FakeJob:
    def __init__(self, job_id: str, folder: Path):
        self.job_id = job_id
        self.paths = type("Paths", (), {"result_pickle": folder / f"{job_id}.pkl",
                                        "stderr": folder / f"{job_id}.err"})()

    def task(self, index):
        return self


class FakeSlurm:
    """subprocess.run for squeue (one scripted answer per call: a {job: state} dict, or
    None for a failing squeue), scontrol and scancel; `on_poll[n]` runs at the n-th call."""

    def __init__(self, answers, on_poll=None):
        self.answers, self.on_poll, self.calls, self.cancelled = list(answers), on_poll or {}, 0, []

    def __call__(self, argv, **kwargs):
        if argv[0] == "scancel":
            self.cancelled += argv[1:]
            return subprocess.CompletedProcess(argv, 0, "", "")
        if argv[0] == "scontrol":
            return subprocess.CompletedProcess(argv, 0, "ExitCode=0:0", "")
        self.calls += 1
        if self.calls in self.on_poll:
            self.on_poll[self.calls]()
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if answer is None:
            raise subprocess.TimeoutExpired(argv, 60)
        lines = [f"{j}|{s}|None|vm" for j, s in answer.items()]
        return subprocess.CompletedProcess(argv, 0, "\n".join(lines), "")


def follow(tmp_path, monkeypatch, fake, specs, **slurm_options):
    monkeypatch.setattr(subprocess, "run", fake)
    lr = launcher(tmp_path, **slurm_options)
    jobs = [slurm._Job(FakeJob(str(100 + i), tmp_path), [s]) for i, s in enumerate(specs)]
    lr._expected = {s.key() for s in specs}
    lr._watch(jobs)
    return lr, {m.spec.batch_size: m for m in storage.load_measurements(tmp_path)}


def every_record(run_dir):
    """Every record appended, superseded ones too."""
    return [storage.parse_record(line) for line in
            (run_dir / storage.POINTS_FILE).read_text().splitlines()]


def stored(tmp_path, s):
    return lambda: storage.append_measurement(tmp_path, Measurement(s, status="skipped",
                                                                    message="stored by job"))


def test_a_preempted_job_that_is_requeued_is_followed_until_it_stores_its_point(
        tmp_path, monkeypatch):
    s = spec()
    states = ["RUNNING", "PREEMPTED", "PREEMPTED", "REQUEUED", "PENDING", "REQUEUE_HOLD",
              "PENDING", "RUNNING", "RUNNING", "COMPLETED"]
    fake = FakeSlurm([{"100": x} for x in states], {9: stored(tmp_path, s)})
    lr, points = follow(tmp_path, monkeypatch, fake, [s])
    assert points[1].message == "stored by job"
    # never an error meanwhile: not stored, not reported
    assert [m.message for m in every_record(tmp_path)] == ["stored by job"]
    assert [m.message for m in lr.reporter.finished] == ["stored by job"]
    assert any("(requeued: it runs again)" in n for n in lr.reporter.notes)


def test_a_preempted_job_that_never_comes_back_is_its_points_error(tmp_path, monkeypatch):
    fake = FakeSlurm([{"100": "RUNNING"}, {"100": "PREEMPTED"}])
    _, points = follow(tmp_path, monkeypatch, fake, [spec()])
    assert points[1].status == "error" and "Slurm job 100 PREEMPTED" in points[1].message
    assert fake.calls == 2 + slurm.REQUEUE_POLLS


def test_an_squeue_outage_neither_fails_nor_cancels_live_jobs(tmp_path, monkeypatch):
    a, b = spec(1), spec(2)
    outage = [None] * (slurm.LOST_POLLS + 10)     # longer than a job may be unlisted
    answers = [{"100": "RUNNING", "101": "RUNNING"}] + outage + \
        [{"101": "RUNNING"}, {"101": "COMPLETED"}]
    fake = FakeSlurm(answers, {5: stored(tmp_path, a),          # finishes during the outage
                               len(answers) - 1: stored(tmp_path, b)})
    lr, points = follow(tmp_path, monkeypatch, fake, [a, b])
    assert [points[1].message, points[2].message] == ["stored by job"] * 2
    assert [m.message for m in every_record(tmp_path)] == ["stored by job"] * 2
    assert [m.message for m in lr.reporter.finished] == ["stored by job"] * 2
    assert fake.cancelled == []
    assert any(n.startswith("squeue answers again after") for n in lr.reporter.notes)


def test_a_long_squeue_outage_says_so_and_a_later_point_supersedes_it(tmp_path, monkeypatch):
    s = spec()
    fake = FakeSlurm([{"100": "RUNNING"}, None])
    _, points = follow(tmp_path, monkeypatch, fake, [s], outage_s=0.0)
    assert points[1].status == "error" and "state unknown, squeue failed" in \
        points[1].message and "not cancelled" in points[1].message
    assert fake.cancelled == []
    stored(tmp_path, s)()                         # the job stores its point after all
    assert storage.load_measurements(tmp_path)[0].message == "stored by job"


# --- the compute node's peak, once per node ----------------------------------------------

def test_the_nodes_peak_is_measured_once_per_node_and_extended_per_thread_count(tmp_path):
    calls = []

    def measure(counts, cpus_for):
        calls.append((list(counts), [cpus_for(t) for t in counts]))
        return {"kind": "cpu", "gflops_by_threads": {str(t): 100.0 * t for t in counts},
                "method": "fake"}

    four = machine(4)
    request = {"threads": [1, 2, 8], "mapping": "sequential", "ht": False}
    first = node_peak.node_peak(tmp_path, four, request, measure_cpu=measure)
    again = node_peak.node_peak(tmp_path, four, request, measure_cpu=measure)
    assert calls == [([1, 2], [[0], [0, 1]])]        # 8 threads: beyond the node's cores
    assert first == again and first["gflops_by_threads"] == {"1": 100.0, "2": 200.0}
    wider = node_peak.node_peak(tmp_path, four, dict(request, threads=[2, 4]),
                                measure_cpu=measure)
    assert calls[1][0] == [4] and wider["gflops_by_threads"] == {"1": 100.0, "2": 200.0,
                                                                 "4": 400.0}
    gpu = node_peak.node_peak(tmp_path, four, {"gpu": True},
                              measure_gpu=lambda: {"kind": "gpu", "gflops_by_dtype": {}})
    assert gpu["kind"] == "gpu" and node_peak.node_peak(tmp_path, four, {}) is None


def test_points_from_a_slurm_node_are_divided_by_that_nodes_peak(tmp_path):
    from suite.peak import PEAK_KEY
    from suite.progress import describe
    from suite.report.frames import load_run
    login = {"kind": "cpu", "gflops_by_threads": {"1": 400.0}, "method": "login node"}
    compute = {"kind": "cpu", "gflops_by_threads": {"1": 100.0}, "method": "compute node"}
    s_node, s_here = spec(batch=4), spec(batch=8)
    on_node = Measurement(s_node, samples_ns=[int(1e8)] * 20, items_per_step=4,
                          flops_per_item=1e9, memory={"peak_rss_mib": 1.0},
                          precision_reached=True,
                          meta={"host": {"hostname": "node7", "peak": compute}})
    here = Measurement(s_here, samples_ns=[int(2e8)] * 20, items_per_step=8,
                       flops_per_item=1e9, memory={"peak_rss_mib": 1.0},
                       precision_reached=True, meta={"host": {"hostname": "login"}})
    storage.write_run_info(tmp_path, storage.RunInfo(
        run_id="r", task="infer", command=[], config={}, environment={PEAK_KEY: login},
        started_at="now"))
    for m in (on_node, here):
        storage.append_measurement(tmp_path, m)
    frame = load_run(tmp_path).points.set_index("batch_size")
    assert frame.loc[4, "percent_of_peak"] == pytest.approx(40.0)     # 40 of node7's 100
    assert frame.loc[4, "peak_basis"].endswith("(measured on node node7)")
    assert frame.loc[8, "percent_of_peak"] == pytest.approx(10.0)     # 40 of run.json's 400
    assert "(40% of peak)" in describe(on_node, login)
    assert "(10% of peak)" in describe(here, login)
