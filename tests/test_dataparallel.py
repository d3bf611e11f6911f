"""Data-parallel training (--nproc-per-node): DDP's step, the collective timer, the
combination of ranks, and sweeps through the CLI with 2 ranks x 1 thread."""
import os
import subprocess
import sys

import numpy as np
import pytest

from adapter_helpers import skip_or_fail
from frameworks import get_adapter
from suite import stats
from suite.dataparallel.collective import CollectiveTimer, combine_ranks, failed_point
from suite.errors import UsageError
from suite.spec import Measurement, PointSpec
from suite.storage import load_measurements
from suite.timing import FakeTimer
from suite.topology import Core, Topology, rank_core_lists, read_topology

CORES = read_topology().physical_cores

WEIGHT_RTOL = 1e-5
FAST = ["--image-size", "32", "--min-time", "0.05", "--max-time", "0.4", "--quiet",
        "--processes", "1", "--threads", "1"]


def _torch():
    avail = get_adapter("pytorch").availability()
    if not avail.ok:
        skip_or_fail("pytorch", f"pytorch unavailable: {avail.reason}")


def dlbench(*args, env=None, timeout=600):
    full = dict(os.environ)
    full.pop("DLBENCH_FAULT_RANK", None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, env=full, timeout=timeout)


# --- the step -----------------------------------------------------------------------------

@pytest.mark.slow
def test_one_ddp_step_equals_one_sgd_step_on_the_concatenated_batch():
    """2 ranks x 2 images through DDP = one process on the 4 images: the same weights
    after the step (DDP averages the ranks' gradients of their mean losses, which is the
    gradient of the mean loss over the whole batch). CaffeNet has no batch norm, whose
    statistics are per rank by design."""
    _torch()
    from ddp_helpers import ddp_rank_step, one_step
    from frameworks import pytorch_ddp
    model, size, batch = "caffenet", 71, 2
    result, failures = pytorch_ddp.launch(ddp_rank_step, (model, size, batch), 2, 120)
    assert not failures, failures
    losses, params = result
    loss, expected = one_step(model, size, 2 * batch)
    assert abs(np.mean(losses) - loss) <= 1e-5 * abs(loss), (losses, loss)
    worst = max(float(np.max(np.abs(params[n] - expected[n])) / np.max(np.abs(expected[n])))
                for n in expected)
    assert worst <= WEIGHT_RTOL, worst
    # and the step is not the single-process step on rank 0's share alone
    _, alone = one_step(model, size, batch)
    assert max(float(np.max(np.abs(alone[n] - expected[n]))) for n in expected) > 1e-6


# --- the collective timer and the combination (no processes) -----------------------------

def _other_rank(times_ns):
    """An all_gather for a 2-rank group whose other rank takes `times_ns` per step."""
    def gather(values):
        return [values, [times_ns] * len(values)]
    return gather


def test_collective_timer_returns_the_slowest_rank_per_step_and_keeps_its_own():
    timer = CollectiveTimer(FakeTimer([100, 300]), _other_rank(200))
    timed = timer.run(lambda: None, 4)
    assert list(timed.host_ns) == [200, 300, 200, 300]
    assert timer.own_ns == [100, 300, 100, 300]


def test_collective_timer_stops_on_the_gathered_budget():
    """The budget is judged on the slowest rank's times, which every rank sees alike."""
    timer = CollectiveTimer(FakeTimer([10]), _other_rank(1000))
    timer.run(lambda: None, 1)                  # learns the step time (1000 ns)
    timed = timer.run(lambda: None, 100, budget_ns=3500)
    assert len(timed.host_ns) == 4 and timed.wall_ns() == 4000


def _record(rank, samples, cores):
    return {"rank": rank, "local_rank": rank, "host": "h", "pid": 1, "backend": "gloo",
            "cores": cores, "observed_cpus": cores, "threads": 1, "omp_num_threads": "1",
            "samples_ns": samples, "cold_start_ns": 5, "warmup_iterations": 3,
            "warmup_steady": True, "stop_reason": "precision", "flops_per_item": 1e6,
            "param_count": 10, "build_s": 0.1, "memory": {"peak_rss_mib": 100.0 + rank}}


def test_combined_throughput_is_all_items_over_the_slowest_ranks_time():
    spec = PointSpec("train", "pytorch", "none", "resnet18", 4, 32, threads=1,
                     nproc_per_node=2)
    fast, slow = [10_000_000] * 20, [12_000_000] * 20
    m = combine_ranks(spec, [_record(1, slow, [1]), _record(0, fast, [0])], 0.02)
    s = stats.point_summary(m)
    assert m.items_per_step == 8 and m.samples_ns == slow and m.rank_samples_ns == [fast, slow]
    assert s.items_per_second == pytest.approx(8 * 20 / (20 * 0.012))
    assert m.meta["straggler_ratio"] == pytest.approx(12 / 11)
    assert m.meta["slowest_rank"] == 1 and m.placement["rank_cores"] == [[0], [1]]
    assert m.memory["peak_rss_mib"] == 101.0 and m.memory["all_ranks_peak_rss_mib"] == 201.0


def test_a_failed_rank_names_itself_and_oom_is_oom():
    spec = PointSpec("train", "pytorch", "none", "resnet18", 4, 32, nproc_per_node=2)
    m = failed_point(spec, {1: "RuntimeError: boom"})
    assert m.status == "error" and m.message == "rank 1 failed: RuntimeError: boom"
    assert failed_point(spec, {0: "OutOfMemory: no room"}).status == "oom"


def test_rank_core_lists_are_disjoint_and_checked():
    topo = Topology([Core(0, i, 0, (i, i + 4)) for i in range(4)], {0: list(range(8))})
    assert rank_core_lists(topo, 2, 2, "sequential", False) == [[0, 1], [2, 3]]
    assert rank_core_lists(topo, 1, 4, "sequential", True) == [[0], [4], [1], [5]]
    with pytest.raises(UsageError, match="3 ranks x 2 threads need 6 physical cores"):
        rank_core_lists(topo, 2, 3, "sequential", False)


def test_scaling_efficiency_and_straggler_ratio():
    assert stats.scaling_efficiency(180.0, 100.0, 2) == pytest.approx(0.9)
    assert stats.straggler_ratio([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.5)
    assert stats.compute_straggler_ratio([[1, 9, 2], [2, 2, 30], [3, 3, 3]]) == \
        pytest.approx(1.5)


def test_the_straggler_comes_from_compute_steps_and_each_rank_samples_its_own_gpu():
    from types import SimpleNamespace

    from suite.dataparallel.rank import sampler_device
    spec = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, nproc_per_node=2)
    records = [{"rank": r, "samples_ns": [100, 100], "compute_ns": [50 + 50 * r] * 3,
                "memory": {}, "flops_per_item": 1.0, "cold_start_ns": 1,
                "warmup_iterations": 1, "backend": "gloo", "stop_reason": "x",
                "warmup_steady": True, "param_count": 1, "cores": [r], "host": "h"}
               for r in (0, 1)]
    m = combine_ranks(spec, records, 0.02, min_iterations=1)
    assert m.meta["straggler_ratio"] == pytest.approx(2.0)   # slowest / the other rank
    assert m.meta["rank_compute_ms"] == [50e-6, 100e-6]
    del records[1]["compute_ns"]
    assert combine_ranks(spec, records, 0.02, 1).meta["straggler_ratio"] == 1.0
    cuda = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, device="cuda",
                     nproc_per_node=2)
    assert sampler_device(cuda, SimpleNamespace(local_rank=1)) == 1
    assert sampler_device(spec, SimpleNamespace(local_rank=1)) == -1


def test_the_scaling_table_shows_the_stored_straggler_ratio_and_its_basis():
    from suite.report.scaleout import straggler_text
    spec = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, nproc_per_node=2)
    m = Measurement(spec, "ok", samples_ns=[100, 100], rank_samples_ns=[[100, 100], [100, 100]],
                    meta={"straggler_ratio": 1.75,
                          "straggler_basis": "each rank's compute steps without the all-reduce"})
    assert straggler_text(m) == "1.75"          # not 1.00 from the timed steps' waits
    m.meta = {"straggler_ratio": 1.0, "straggler_basis": "timed steps (they include ...)"}
    assert straggler_text(m) == "1.00 (timed steps)"
    m.meta = {}
    assert straggler_text(m) == "1.00 (timed steps)"
    m.rank_samples_ns = [[100, 100]]
    assert straggler_text(m) == "-"


# --- sweeps through the CLI --------------------------------------------------------------

@pytest.mark.slow
def test_ddp_sweep_records_world_size_per_rank_figures_and_the_scaling_table(tmp_path):
    """2 ranks x 1 thread beside the 1-process point: ok, each rank on its own core with
    one thread (not torchrun's default), and the report's scaling table. Rank 1 is made
    150 ms slower a step: the straggler ratio finds it from the ranks' compute steps, where
    their timed steps (which include the all-reduce's wait) cannot."""
    _torch()
    out = tmp_path / "run"
    r = dlbench("train", "--frameworks", "pytorch", "--models", "resnet18", "--batches", "2",
                "--nproc-per-node", "1,2", "--samples", "400", "--out", str(out), *FAST,
                env={"OMP_NUM_THREADS": "7", "DLBENCH_SLOW_RANK": "1:150"})
    assert r.returncode == 0, r.stderr
    by_world = {m.spec.world_size: m for m in load_measurements(out)}
    single, ddp = by_world[1], by_world[2]
    assert single.status == "ok" and ddp.status == "ok", (single.message, ddp.message)
    assert ddp.meta["world_size"] == 2 and ddp.meta["backend"] == "gloo"
    assert ddp.items_per_step == 4 and len(ddp.rank_samples_ns) == 2
    ranks = ddp.meta["ranks"]
    assert [rk["threads"] for rk in ranks] == [1, 1]
    assert [rk["omp_num_threads"] for rk in ranks] == ["1", "1"]
    cores = [rk["cores"] for rk in ranks]
    assert cores == [[0], [1]] and [rk["observed_cpus"] for rk in ranks] == cores
    assert ddp.meta["straggler_basis"] == "each rank's compute steps without the all-reduce"
    assert ddp.meta["straggler_ratio"] >= 1.3, ddp.meta["rank_compute_ms"]
    assert stats.straggler_ratio(ddp.rank_samples_ns) < 1.1    # the waits hide it there
    times = stats.rank_times_s(ddp.rank_samples_ns)
    assert stats.point_summary(ddp).items_per_second == pytest.approx(
        4 * len(ddp.samples_ns) / max(times))
    page = (out / "index.md").read_text()
    assert "# Data-parallel scaling" in page
    row = next(line for line in (out / "scaling.md").read_text().splitlines()
               if "2 (1x2)" in line)
    efficiency = stats.scaling_efficiency(stats.point_summary(ddp).items_per_second,
                                          stats.point_summary(single).items_per_second, 2)
    assert f"{efficiency:.0%}" in row
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    assert cells[-1] == f"{ddp.meta['straggler_ratio']:.2f}"    # the stored ratio, not the waits'


@pytest.mark.slow
def test_a_failing_rank_fails_its_point_and_the_sweep_goes_on(tmp_path):
    _torch()
    out = tmp_path / "run"
    r = dlbench("train", "--frameworks", "pytorch", "--models", "resnet18", "--batches", "2",
                "--nproc-per-node", "2,1", "--samples", "200", "--no-report", "--out",
                str(out), *FAST, env={"DLBENCH_FAULT_RANK": "1"})
    assert r.returncode == 0, r.stderr
    by_world = {m.spec.world_size: m for m in load_measurements(out)}
    assert by_world[2].status == "error"
    assert by_world[2].message.startswith("rank 1 failed: RuntimeError: injected fault")
    assert by_world[1].status == "ok", by_world[1].message


@pytest.mark.parametrize("args,expected", [
    (["--nnodes", "2", "--nproc-per-node", "2"], "--nnodes 2: several nodes need --launcher slurm"),
    (["--nproc-per-node", "2", "--threads", str(CORES)],
     f"2 ranks x {CORES} threads need {2 * CORES}"),
    (["--nproc-per-node", "0"], "--nproc-per-node: 0 is below the minimum 1"),
    (["--slurm-partition", "p"], "--slurm-partition: only with --launcher slurm"),
    (["--launcher", "k8s"], "--launcher: unknown value 'k8s'; valid: local, slurm"),
])
def test_scale_out_input_errors_are_one_line(args, expected, tmp_path):
    r = dlbench("train", "--models", "resnet18", "--frameworks", "pytorch", "--out",
                str(tmp_path / "x"), *args)
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_data_parallel_elsewhere_is_skipped_with_the_reason():
    from suite.dataparallel import unsupported
    spec = PointSpec("train", "mxnet", "script", "resnet18", 2, 32, nproc_per_node=2)
    assert "no data-parallel backend" in unsupported(spec)
    spec = PointSpec("train", "pytorch", "script", "resnet18", 2, 32, nproc_per_node=2)
    assert "eager PyTorch (DDP) only" in unsupported(spec)
    assert unsupported(PointSpec("train", "pytorch", "none", "resnet18", 2, 32)) is None


def test_slurm_options_become_sbatch_parameters():
    import argparse
    from suite.launchers.options import add_arguments, resolve
    p = argparse.ArgumentParser()
    add_arguments(p, "train")
    scale = resolve(p.parse_args(["--launcher", "slurm", "--slurm-partition", "gpu",
                                  "--slurm-time", "30", "--slurm-param", "account=proj",
                                  "--slurm-param", "mail-type=NONE", "--slurm-param",
                                  "requeue", "--nnodes", "2", "--nproc-per-node", "1,8"]))
    assert scale.slurm == {"partition": "gpu", "time_min": 30, "exclusive": True,
                           "params": {"account": "proj", "mail_type": "NONE", "requeue": True}}
    assert scale.nproc_per_node == [1, 8] and scale.nnodes == 2
    with pytest.raises(UsageError, match="not KEY=VALUE"):
        resolve(p.parse_args(["--launcher", "slurm", "--slurm-param", "account="]))
