"""Serving end to end on ONNX Runtime (tiny ResNet-18 at 32 px, sub-second LoadGen tests):
a Server run's percentiles beside LoadGen's, instances pinned to disjoint cores as /proc
shows them, an instance crashing mid-run, and `tune` with its interleaved verification."""
import dataclasses
import os
import time
from pathlib import Path

import pytest

from adapter_helpers import adapter_or_skip, import_or_skip
from suite import storage
from suite.report import build_report
from suite.report.serving import serving_table, tune_verdict
from suite.runner import RunOptions
from suite.serving.figures import serving_figures, within_bound
from suite.serving.pool import InstancePool
from suite.serving.serve import ServeConfig, run_serve
from suite.serving.tune import TUNE_FILE, TuneGoal, run_tune
from suite.serving.verdict import stage_repeat
from suite.topology import instance_core_sets, parse_cpu_list, read_topology

pytestmark = pytest.mark.slow   # real LoadGen runs with real instances

TOPO = read_topology()
TWO = TOPO.physical_cores >= 2


@pytest.fixture(autouse=True)
def _needs_onnx_and_loadgen():
    adapter_or_skip("onnx")
    import_or_skip("mlperf_loadgen", "onnx", "pip install mlcommons-loadgen")


def config(**kw) -> ServeConfig:
    base = dict(framework="onnx", optimization="script", model="resnet18", input_size=32,
                scenario="server", configs=[(2, 1) if TWO else (1, 1)], qps=[40.0],
                max_batch=2, batch_timeout_ms=1.0, duration_s=1.0, min_queries=32,
                timeout=60.0)
    base.update(kw)
    return ServeConfig(**base)


def start_run(run_dir: Path, cfg: ServeConfig, task: str = "serve") -> None:
    storage.write_run_info(run_dir, storage.RunInfo(run_dir.name, task, ["test"],
                                                    cfg.to_dict(), {}, "now"))


def test_a_short_server_run_stores_valid_percentiles(tmp_path):
    cfg = config()
    start_run(tmp_path, cfg)
    [m] = run_serve(cfg, TOPO, tmp_path, lambda _: None)
    assert m.status == "ok", m.message
    f = serving_figures(m)
    assert 0 < f["p50_ms"] <= f["p90_ms"] <= f["p99_ms"] <= f["p99_9_ms"]
    assert f["p99_ms_low"] <= f["p99_ms"] <= f["p99_ms_high"]
    assert f["queries"] >= 32 and f["achieved_qps"] > 0
    assert m.meta["loadgen"]["result_validity"] in ("VALID", "INVALID")
    assert m.message == ("" if f["valid"] else "LoadGen INVALID: " + "; ".join(f["invalid_reasons"]))
    [stored] = storage.load_measurements(tmp_path)          # every setting kept
    assert (stored.spec.instances, stored.spec.scenario, stored.spec.target_qps) == \
        (cfg.configs[0][0], "server", 40.0)
    assert stored.samples_ns == m.samples_ns
    assert (tmp_path / m.meta["loadgen_logs"] / "mlperf_log_summary.txt").exists()
    # LoadGen's percentiles beside ours, and "within the bound" as LoadGen judged it
    records = m.meta["loadgen"]
    assert f["loadgen_p99_ms"] == records["result_99.00_percentile_latency_ns"] / 1e6 > 0
    [row] = serving_table([m]).to_dict("records")
    assert row["LoadGen p99 ms"] == f"{f['loadgen_p99_ms']:.2f}"
    assert row["p99 bound"].startswith("held") == within_bound(m, cfg.p99_ms)
    if within_bound(m, cfg.p99_ms):
        assert records["result_perf_constraints_met"] is True
    index = build_report(tmp_path)
    assert "# Serving" in index.read_text() and "LoadGen p99 ms" in index.read_text()
    assert (tmp_path / "plots" / "serving" / "latency-p99-vs-qps.png").exists()


def _allowed_cpus(pid: int) -> set[int]:
    cpus: set[int] = set()
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                cpus |= set(parse_cpu_list(line.split(":", 1)[1]))
    return cpus


def test_instances_run_on_disjoint_cores_as_proc_shows(tmp_path):
    k = min(TOPO.physical_cores, 2)
    cfg = config()
    spec = cfg.spec(k, 1)
    sets = instance_core_sets(TOPO, k, 1)
    pool = InstancePool(spec, cfg.worker_settings(), sets, [1], TOPO, tmp_path / "w.log",
                        RunOptions(settings={}, timeout_s=60))
    try:
        seen = [_allowed_cpus(w.proc.pid) for w in pool.workers]   # from outside
        assert seen == [set(s) for s in sets]
        assert set(pool.info[0].observed_cpus) == set(sets[0])     # and from inside
        for a in range(k):
            for b in range(a + 1, k):
                assert not seen[a] & seen[b]
        assert pool.run_batch(k - 1, 1)["bucket"] == 1
    finally:
        pool.close()


def test_an_instance_crashing_mid_run_makes_the_point_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBENCH_SERVE_FAULT", "crash@0:5")
    cfg = config(qps=[40.0, 60.0], duration_s=1.0)
    start_run(tmp_path, cfg)
    t0 = time.monotonic()
    points = run_serve(cfg, TOPO, tmp_path, lambda _: None)
    assert time.monotonic() - t0 < 60                 # LoadGen finished its schedule
    assert [m.status for m in points] == ["error", "error"]   # the next pool crashes too
    assert "instance 0" in points[0].message and "crashed" in points[0].message
    assert points[0].samples_ns == []
    pids = [i["pid"] for m in points for i in m.placement["instances"] if i.get("pid")]
    for pid in pids:                                   # no instance left behind
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert [m.status for m in storage.load_measurements(tmp_path)] == ["error", "error"]


def test_tune_returns_a_configuration_with_its_verification(tmp_path):
    cfg = config(scenario="multistream", duration_s=0.5, min_queries=16)
    goal = TuneGoal(batch=2, profile_duration_s=0.5, repeats=2)   # the CLI's least is 3
    start_run(tmp_path, cfg, "tune")
    result = run_tune(cfg, goal, TOPO, tmp_path, lambda _: None)
    assert result["status"] == "ok", result
    rec = result["recommended"]
    assert rec["instances"] * rec["threads"] <= TOPO.physical_cores and rec["batch"] == 2
    assert result["baseline"] == {"instances": 1, "threads": TOPO.physical_cores, "batch": 2}
    assert result["speedup"] > 0 and result["p99_ms"] >= result["p50_ms"] > 0
    assert result["predicted"]["p50_ms"] > 0             # predicted beside measured
    assert result["repeats"] == 2 and isinstance(result["goal_met"], bool)
    if result["recommended"] != result["baseline"]:
        assert result["speedup_low"] <= result["speedup"] <= result["speedup_high"]
    points = storage.load_measurements(tmp_path)
    verify = [m for m in points if stage_repeat(m.spec.stage)]
    assert verify and all(m.status == "ok" for m in verify)
    assert {m.spec.stage for m in points} == {"profile", "verify-1", "verify-2"}
    assert tune_verdict(points)["recommended"] == rec      # derived from the stored points
    assert (tmp_path / TUNE_FILE).exists()
    assert "Tune verdict" in build_report(tmp_path).read_text()


def test_a_hung_instance_times_out_and_nothing_waits_on_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBENCH_SERVE_FAULT", "hang@0:3")
    cfg = config(timeout=3.0)
    start_run(tmp_path, cfg)
    t0 = time.monotonic()
    [m] = run_serve(cfg, TOPO, tmp_path, lambda _: None)
    assert time.monotonic() - t0 < 45
    assert m.status == "timeout" and "instance 0" in m.message and "--timeout 3" in m.message


def test_tune_for_qps_under_a_p99_bound_verifies_with_a_peak_search(tmp_path):
    cfg = config(duration_s=0.5, min_queries=16)
    goal = TuneGoal(qps=30.0, p99_ms=500.0, batches=[2], profile_duration_s=0.5,
                    peak_steps=1, repeats=2)
    start_run(tmp_path, cfg, "tune")
    result = run_tune(cfg, goal, TOPO, tmp_path, lambda _: None)
    assert result["status"] == "ok", result
    assert result["goal"] == "qps" and result["qps"] == 30.0
    assert result["peak_qps"] >= 30.0 or result["peak_qps"] == 0.0
    assert result["predicted"]["capacity_qps"] > 0 and result["p99_ms"] > 0
    points = storage.load_measurements(tmp_path)
    profile = [m for m in points if m.spec.stage == "profile"]
    assert {m.spec.scenario for m in profile} == {"server", "offline"}
    verify = [m for m in points if stage_repeat(m.spec.stage)]
    arms = 1 if result["recommended"] == result["baseline"] else 2
    assert len(verify) >= 2 * arms * 1                  # 2 repeats: the goal's rate (+ a probe)
    assert len(result["peaks_qps"]) == 2 and result["repeats"] == 2
    assert result["goal_met"] == all(within_bound(m, 500.0) for m in verify
                                     if m.meta["at_goal"] and "recommended" in m.meta["roles"])
    assert tune_verdict(points)["peak_qps"] == result["peak_qps"]
