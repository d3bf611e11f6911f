"""`--launcher slurm` end to end on a real one-node Slurm cluster (scripts/local-slurm.sh).

Where Slurm is not running the module starts it (as root, with the script); where it
cannot start, the tests skip with the reason, except in CI (DLBENCH_REQUIRE_SLURM or
DLBENCH_REQUIRE_FRAMEWORKS set), where they fail: CI must run them.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suite.storage import load_measurements, read_run_info

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ENV = "DLBENCH_REQUIRE_SLURM"
FAST = ["--image-size", "32", "--min-time", "0.05", "--max-time", "0.3", "--processes", "1",
        "--threads", "1", "--frameworks", "pytorch", "--models", "resnet18"]


def _node_up() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(s.strip().rstrip("*") in ("idle", "mixed", "allocated", "completing")
               for s in out.splitlines())


@pytest.fixture(scope="module")
def slurm():
    """A running Slurm whose node takes jobs, or a skip (a failure in CI) saying why not."""
    if _node_up():
        return
    why = "Slurm is not running here and "
    if os.geteuid() != 0:
        why += "scripts/local-slurm.sh start needs root"
    else:
        r = subprocess.run([str(ROOT / "scripts" / "local-slurm.sh"), "start"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode == 0 and _node_up():
            return
        why += "scripts/local-slurm.sh start failed: " + \
            ((r.stderr or r.stdout).strip().splitlines() or ["no output"])[-1]
    if os.environ.get(REQUIRE_ENV) or os.environ.get("DLBENCH_REQUIRE_FRAMEWORKS"):
        pytest.fail(f"Slurm is required here ({REQUIRE_ENV}): {why}", pytrace=False)
    pytest.skip(why)


def dlbench(*args, fault=None, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLBENCH_FAULT")}
    if fault:
        env["DLBENCH_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _jobs_named(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "--states=all", "-n", name, "-o", "%i %T"],
                         capture_output=True, text=True, timeout=30).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_sweep_of_jobs_with_one_failed_job_then_resumed_locally(slurm, tmp_path):
    out = tmp_path / "sweep"
    r = dlbench("infer", "--launcher", "slurm", "--batches", "1,2,4,8", "--no-report",
                "--out", str(out), *FAST, fault="jobexit@resnet18:4")
    assert r.returncode == 0, r.stderr
    assert re.search(r"slurm job \d+_\d+: PENDING -> RUNNING on ", r.stderr), r.stderr
    pts = {m.spec.batch_size: m for m in load_measurements(out)}
    assert sorted(pts) == [1, 2, 4, 8]
    job_ids = set()
    for bs in (1, 2, 8):
        m = pts[bs]
        assert m.status == "ok", m.message
        assert m.meta["host"]["hostname"] == socket.gethostname()
        assert m.meta["host"]["physical_cores"] > 0
        assert re.fullmatch(r"\d+_\d+", m.meta["slurm"]["job_id"])
        job_ids.add(m.meta["slurm"]["job_id"])
    assert len(job_ids) == 3                      # one job (array task) per point
    failed = pts[4]
    assert failed.status == "error"
    assert re.match(r"Slurm job \d+_\d+ FAILED \(reason: NonZeroExitCode\), exit code 3:0",
                    failed.message), failed.message
    assert failed.meta["slurm"]["state"] == "FAILED"
    assert failed.meta["slurm"]["job_id"] in failed.message

    # --resume works across launchers: only the failed point is measured, here
    r = dlbench("infer", "--launcher", "local", "--batches", "1,2,4,8", "--no-report",
                "--resume", "--out", str(out), *FAST, "--quiet")
    assert r.returncode == 0, r.stderr
    again = {m.spec.batch_size: m for m in load_measurements(out)}
    assert again[4].status == "ok" and "slurm" not in again[4].meta
    assert again[4].meta["host"]["hostname"] == socket.gethostname()
    assert {again[bs].meta["slurm"]["job_id"] for bs in (1, 2, 8)} == job_ids
    info = read_run_info(out)
    assert info.config["launcher"] == "slurm" and info.resumes[-1]["config"]["launcher"] == "local"


@pytest.mark.slow
def test_ctrl_c_cancels_the_runs_jobs(slurm, tmp_path):
    out = tmp_path / f"cancel-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLBENCH_FAULT")}
    env["DLBENCH_FAULT"] = "hang@resnet18:1"
    proc = subprocess.Popen([sys.executable, "-m", "suite", "infer", "--launcher", "slurm",
                             "--batches", "1,2", "--timeout", "300", "--out", str(out), *FAST],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    name = f"dlbench-{out.name}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("RUNNING" in j for j in _jobs_named(name)):
        time.sleep(0.5)
    assert any("RUNNING" in j for j in _jobs_named(name)), "no job of the sweep ran"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled slurm job(s)" in err and "--resume" in err
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
            s in j for j in _jobs_named(name) for s in ("RUNNING", "PENDING", "COMPLETING")):
        time.sleep(0.5)
    states = _jobs_named(name)
    assert states and all("CANCELLED" in j for j in states), states


def _restart(plugin: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DLBENCH_SLURM_TASK_PLUGIN"}
    if plugin:
        env["DLBENCH_SLURM_TASK_PLUGIN"] = plugin
    return subprocess.run([str(ROOT / "scripts" / "local-slurm.sh"), "start"],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(params=["none", "affinity", "cgroup"])
def task_plugin(slurm, request):
    """The cluster with slurmd binding tasks as production clusters do (task/affinity:
    each task its own CPUs; cgroup: each job confined to a cpuset), then the default
    again (task/none) for the other tests."""
    if request.param == "none":
        yield request.param
        return
    r = _restart(request.param)
    try:
        if r.returncode != 0 or not _node_up():
            why = ((r.stderr or r.stdout).strip().splitlines() or ["no output"])[-1]
            if os.environ.get(REQUIRE_ENV):
                pytest.fail(f"TaskPlugin {request.param} did not start: {why}", pytrace=False)
            pytest.skip(f"TaskPlugin {request.param} cannot run here: {why}")
        yield request.param
    finally:
        restored = _restart(None)
        assert restored.returncode == 0, restored.stderr


@pytest.mark.slow
def test_data_parallel_point_on_slurm_runs_a_task_per_rank(task_plugin, tmp_path):
    """Under task/affinity each rank task is bound to one CPU: the job still places both
    ranks and records the node (not one task's CPU) and the node's peak."""
    from suite.topology import read_topology
    out = tmp_path / "ddp"
    r = dlbench("train", "--launcher", "slurm", "--nproc-per-node", "2", "--batches", "2",
                "--samples", "200", "--no-report", "--quiet", "--out", str(out), *FAST)
    assert r.returncode == 0, r.stderr
    (m,) = load_measurements(out)
    assert m.status == "ok", m.message
    assert m.meta["world_size"] == 2 and re.fullmatch(r"\d+", m.meta["slurm"]["job_id"])
    assert [rk["cores"] for rk in m.meta["ranks"]] == [[0], [1]]
    assert [rk["threads"] for rk in m.meta["ranks"]] == [1, 1]
    node = read_topology().whole()
    assert (m.meta["host"]["physical_cores"], m.meta["host"]["logical_cores"]) == \
        (node.physical_cores, node.logical_cpus)
    # the compute node's peak at threads x ranks, measured in the job, stored with the host
    assert m.meta["host"]["peak"]["gflops_by_threads"]["2"] > 0
    assert (out / "slurm" / "peaks" / f"{socket.gethostname()}-cpu.json").exists()


@pytest.mark.slow
def test_a_login_node_without_a_gpu_submits_a_gpu_sweep(slurm, tmp_path):
    """--device cuda is checked in the job, on the node (README's cluster examples run
    from a login node without a GPU); a node without one records the point `skipped`."""
    from suite import _native
    if _native.cuda_available():
        pytest.skip("this machine has CUDA: its node would run the point")
    r = dlbench("infer", "--launcher", "slurm", "--device", "cuda", "--batches", "1",
                "--no-report", "--quiet", "--out", str(tmp_path / "gpu"), *FAST)
    assert r.returncode == 0, r.stderr
    (m,) = load_measurements(tmp_path / "gpu")
    assert m.status == "skipped" and m.message.startswith("--device cuda: "), m.message
    assert m.message.endswith(f" on node {socket.gethostname()}")
    assert re.fullmatch(r"\d+(_\d+)?", m.meta["slurm"]["job_id"])
