"""Serving without frameworks: core sets per instance, the dynamic batcher, the peak
search, LoadGen's verdict from its log, the tune verdict from points, and the CLI's
refusals."""
import json
import subprocess
import sys
import threading
import time

import pytest

from adapter_helpers import import_or_skip
from suite.errors import UsageError
from suite.runner import WorkerFailure
from suite.serving.batcher import Batcher
from suite.serving.figures import latency_figures
from suite.serving.instance import buckets_for
from suite.serving.loadgen import read_detail, verdict
from suite.serving.peak import find_peak
from suite.spec import Measurement, PointSpec
from suite.topology import Core, Topology, instance_core_sets, instance_shapes


def machine(nodes: int, cores_per_node: int, ht: bool = False) -> Topology:
    total = nodes * cores_per_node
    cores = [Core(n, c, n, (n * cores_per_node + c,) + ((n * cores_per_node + c + total,)
                                                        if ht else ()))
             for n in range(nodes) for c in range(cores_per_node)]
    return Topology(cores, {n: [cpu for c in cores if c.node == n for cpu in c.cpus]
                            for n in range(nodes)})


def test_instances_get_disjoint_cores_within_one_numa_node():
    topo = machine(2, 4)
    sets = instance_core_sets(topo, 4, 2)
    assert sets == [[0, 1], [4, 5], [2, 3], [6, 7]]     # spread over the nodes
    flat = [c for s in sets for c in s]
    assert len(flat) == len(set(flat))
    for s in sets:
        assert len({topo.node_of(c) for c in s}) == 1


def test_an_instance_straddles_nodes_only_when_asked():
    topo = machine(2, 4)
    with pytest.raises(UsageError, match="does not fit in one NUMA node.*--straddle-numa"):
        instance_core_sets(topo, 1, 8)
    assert instance_core_sets(topo, 1, 8, straddle=True) == [list(range(8))]
    with pytest.raises(UsageError, match=r"need 10 physical cores; 8 are available"):
        instance_core_sets(topo, 5, 2)


def test_hyperthreads_fill_siblings_first():
    topo = machine(1, 2, ht=True)
    assert instance_core_sets(topo, 2, 2, ht=True) == [[0, 2], [1, 3]]


def test_instance_shapes_use_every_core_without_straddling():
    assert instance_shapes(machine(1, 2)) == [(1, 2), (2, 1)]
    shapes = instance_shapes(machine(2, 64))
    assert (1, 128) in shapes and (2, 64) in shapes and (128, 1) in shapes
    assert (1, 64) not in shapes
    assert all(k * t == 128 for k, t in shapes)


def test_buckets_are_powers_of_two_and_the_largest_batch():
    assert buckets_for(1) == [1]
    assert buckets_for(6) == [1, 2, 4, 6]


def _batcher(instances, max_batch, timeout_s, fail_on=None, compute_s=0.001):
    completed, runs = [], []
    lock = threading.Lock()

    def run(i, n):
        if fail_on is not None and len(runs) >= fail_on:
            raise WorkerFailure("error", f"instance {i}: worker crashed")
        with lock:
            runs.append((i, n))
        time.sleep(compute_s)
        return {"bucket": n, "compute_ns": int(compute_s * 1e9)}

    def complete(ids):
        with lock:
            completed.extend(ids)
    return Batcher(run, instances, max_batch, timeout_s, complete), completed, runs


def test_batcher_fills_batches_up_to_the_maximum():
    b, completed, runs = _batcher(2, 4, 0.05)
    b.issue(list(range(10)))                  # all at once: batches of 4, 4 and 2
    time.sleep(0.3)
    b.stop()
    assert sorted(completed) == list(range(10))
    assert sorted(n for _, n in runs) == [2, 4, 4]
    assert len(b.latencies_ns) == 10 and all(v > 0 for v in b.latencies_ns)
    assert len(b.query_latencies_ns) == 1     # one issue call = one query


def test_batcher_waits_at_most_the_timeout_for_a_partial_batch():
    b, completed, runs = _batcher(1, 8, 0.02)
    t0 = time.monotonic()
    b.issue([1])
    while not completed and time.monotonic() - t0 < 2:
        time.sleep(0.001)
    b.stop()
    assert runs == [(0, 1)]
    assert 0.015 < time.monotonic() - t0 < 1.0


def test_a_failed_instance_completes_every_query_at_once():
    b, completed, runs = _batcher(2, 1, 0.0, fail_on=2)
    b.issue(list(range(20)))
    t0 = time.monotonic()
    while len(completed) < 20 and time.monotonic() - t0 < 5:
        time.sleep(0.005)
    b.stop()
    assert sorted(completed) == list(range(20))     # nobody waits on the dead instance
    assert b.failure is not None and "crashed" in b.failure.message
    assert len(runs) == 2


def _server_point(qps, p99_ms, achieved=None):
    m = Measurement(PointSpec("serve", "onnx", "script", "resnet18", 1, 32,
                              scenario="server", target_qps=qps))
    m.samples_ns = [int(p99_ms * 1e6)] * 100
    m.meta = {"loadgen": {"result_completed_samples_per_sec": achieved or qps}}
    return m


def test_find_peak_brackets_the_bound():
    capacity = 300.0
    probes = []

    def probe(qps):
        probes.append(qps)
        return _server_point(qps, 5.0 if qps <= capacity else 500.0)
    result = find_peak(probe, 50.0, 100.0, steps=12, resolution=1.05)
    assert result.peak_qps <= capacity < result.peak_qps * 1.05
    assert probes[:3] == [50.0, 100.0, 200.0]


def test_find_peak_counts_a_rate_the_system_falls_behind_as_broken():
    result = find_peak(lambda q: _server_point(q, 5.0, achieved=min(q, 80.0)), 50.0, 100.0, 6)
    assert 50.0 <= result.peak_qps < 90.0


def test_latency_figures_are_ordered_and_positive():
    f = latency_figures([i * 1_000_000 for i in range(1, 1001)])
    assert 0 < f["p50_ms"] <= f["p90_ms"] <= f["p99_ms"] <= f["p99_9_ms"] <= 1000
    assert f["p99_ms_low"] <= f["p99_ms"] <= f["p99_ms_high"]
    with pytest.raises(ValueError):
        latency_figures([])


DETAIL = [
    {"key": "result_validity", "value": "INVALID"},
    {"key": "result_perf_constraints_met", "value": True},
    {"key": "result_min_duration_met", "value": True},
    {"key": "result_min_queries_met", "value": False},
    {"key": "early_stopping_met", "value": False},
    {"key": "early_stopping_result", "value": " * Run unsuccessful.  * Processed 93 queries."},
    {"key": "result_completed_samples_per_sec", "value": 45.1},
    {"key": "result_99.00_percentile_latency_ns", "value": 5751972},
]


def test_loadgen_verdict_and_reasons_from_its_detail_log(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text("\n".join(":::MLLOG " + json.dumps(r) for r in DETAIL) + "\nnoise\n")
    records = read_detail(path)
    valid, reasons = verdict(records)
    assert not valid
    assert "minimum query count not met" in reasons
    assert any("Processed 93 queries" in r for r in reasons)
    assert records["result_99.00_percentile_latency_ns"] == 5751972


def dlbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


@pytest.mark.parametrize("args,expected", [
    (["serve", "--scenario", "batchy"], "valid: singlestream, server, offline"),
    (["serve", "--configs", "2y1"], "expected INSTANCESxTHREADS"),
    (["serve", "--configs", "64x64"], "are available"),
    (["serve", "--qps", "10,x"], "malformed list"),
    (["serve", "--framework", "onnx,pytorch"], "one framework and one model"),
    (["serve", "--scenario", "offline", "--find-peak"], "valid with --scenario server"),
    (["tune", "--framework", "onnx"], "tune needs one goal"),
    (["tune", "--batch", "0"], "--batch"),
])
def test_bad_serving_input_is_one_line_and_exit_2(args, expected, tmp_path):
    r = dlbench(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("args,expected", [
    (["serve", "--threads", "0"], "--threads 0: valid 1-"),
    (["serve", "--threads", "4096"], "--threads 4096: valid 1-"),
    (["serve", "--instances", "0"], "--instances 0: valid 1-"),
    (["serve", "--qps", "10,20,10"], "--qps: 10 is given twice"),
    (["serve", "--configs", "1x1,1x1"], "--configs: 1x1 is given twice"),
    (["serve", "--configs", "1x1", "--threads", "1"], "without --instances/--threads"),
    (["serve", "--qps", "1e7"], "valid above 0 and at most 1,000,000"),
    (["serve", "--qps", "inf"], "valid above 0 and at most 1,000,000"),
    (["serve", "--find-peak", "--qps", "10,20"], "give one --qps"),
    (["serve", "--launcher", "slurm"], "valid for serve: local"),
    (["tune", "--batch", "4", "--launcher", "slurm"], "valid for tune: local"),
    (["tune", "--qps", "2e6"], "at most 1,000,000"),
    (["tune", "--batch", "4", "--repeats", "2"], "--repeats 2: valid 3-100"),
])
def test_more_bad_serving_input_is_one_line_and_exit_2(args, expected, tmp_path, monkeypatch,
                                                      capsys):
    from suite.cli import main
    import_or_skip("mlperf_loadgen", "onnx", "pip install mlcommons-loadgen")
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--framework", "onnx", "--models", "resnet18"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], err
    assert not (tmp_path / "results").exists()


def test_serve_and_tune_have_help_with_examples():
    for cmd in ("serve", "tune"):
        r = dlbench(cmd, "--help")
        assert r.returncode == 0 and "example" in r.stdout, cmd


def _verify_point(k, t, batch, scenario, p50_ms, roles, at_goal=True, qps=0.0, bound=100.0):
    m = Measurement(PointSpec("serve", "onnx", "script", "resnet18", batch, 32, threads=t,
                              instances=k, scenario=scenario, target_qps=qps, stage="verify"))
    m.samples_ns = [int(p50_ms * 1e6)] * 50
    m.meta = {"roles": roles, "at_goal": at_goal, "p99_bound_ms": bound, "valid": False,
              "predicted": {"p50_ms": p50_ms * 0.9, "p99_ms": p50_ms, "capacity_qps": 500.0},
              "loadgen": {"result_completed_samples_per_sec": qps or 100.0}}
    return m


def test_tune_verdict_for_a_batch_goal_is_derived_from_the_verification_points():
    from suite.report.serving import tune_verdict, verdict_text
    points = [_verify_point(2, 1, 4, "multistream", 4.0, ["recommended"]),
              _verify_point(1, 2, 4, "multistream", 6.0, ["baseline"])]
    v = tune_verdict(points)
    assert v["recommended"] == {"instances": 2, "threads": 1, "batch": 4}
    assert v["baseline"]["threads"] == 2
    assert v["speedup"] == pytest.approx(1.5)
    assert v["p99_ms"] == pytest.approx(4.0)
    text = verdict_text(v)
    assert "1.50x (no CI from 1 repeat) faster than 1 x 2" in text and "predicted 3.60" in text
    assert tune_verdict(points[:1]) is None          # no baseline measured: no verdict


def test_tune_verdict_for_a_qps_goal_compares_measured_peaks():
    from suite.report.serving import tune_verdict
    rec = [_verify_point(2, 1, 8, "server", 5.0, ["recommended"], True, 50.0),
           _verify_point(2, 1, 8, "server", 20.0, ["recommended"], False, 400.0),
           _verify_point(2, 1, 8, "server", 150.0, ["recommended"], False, 800.0)]
    base = [_verify_point(1, 2, 4, "server", 9.0, ["baseline"], True, 50.0),
            _verify_point(1, 2, 4, "server", 50.0, ["baseline"], False, 200.0)]
    v = tune_verdict(rec + base)
    assert (v["peak_qps"], v["baseline_peak_qps"]) == (400.0, 200.0)
    assert v["speedup"] == pytest.approx(2.0)
    assert v["p99_ms"] == pytest.approx(5.0) and v["baseline_p99_ms"] == pytest.approx(9.0)


def test_serving_table_and_ticks():
    from suite.report.serving import serving_table, spread_ticks
    failed = Measurement(PointSpec("serve", "onnx", "script", "resnet18", 1, 32, instances=2,
                                   threads=1, scenario="server", target_qps=10.0),
                         status="error", message="instance 0: worker crashed")
    table = serving_table([_server_point(50.0, 5.0), failed])
    assert list(table["configuration"]) == ["1x0", "2x1"]
    assert table.iloc[0]["p99 ms"] == "5.00 [≥ 5.00]"      # 100 queries: an open upper bound
    assert table.iloc[0]["LoadGen"] == "INVALID"
    assert table.iloc[1]["status / reasons"] == "error: instance 0: worker crashed"
    assert spread_ticks([50, 88, 110, 132, 176, 353, 1028]) == [50, 88, 132, 176, 353, 1028]


def test_falling_behind_is_judged_against_the_rate_loadgen_scheduled():
    from suite.serving.figures import within_bound
    m = _server_point(50.0, 5.0, achieved=44.0)          # a short schedule's chance: 44.2
    m.meta["loadgen"]["result_scheduled_samples_per_sec"] = 44.2
    assert within_bound(m, 100.0)
    m.meta["loadgen"]["result_scheduled_samples_per_sec"] = 60.0
    assert not within_bound(m, 100.0)
    assert not within_bound(m, 4.0)                      # p99 over the bound


def test_harness_cores_are_taken_off_the_instances():
    from suite.topology import reserve_cores
    topo, harness = reserve_cores(machine(2, 4), 1)
    assert harness == [7] and topo.physical_cores == 7 and topo.nodes[1] == [4, 5, 6]
    assert instance_shapes(topo)[0] == (1, 7)
    assert reserve_cores(machine(1, 2), 0)[1] == []
    with pytest.raises(UsageError, match="valid: 0-1"):
        reserve_cores(machine(1, 2), 2)


def test_an_unexpected_dispatcher_error_fails_the_point_instead_of_hanging():
    completed = []
    b = Batcher(lambda i, n: {}["bucket"], 1, 1, 0.0, completed.extend)   # KeyError
    b.issue([1, 2, 3])
    t0 = time.monotonic()
    while len(completed) < 3 and time.monotonic() - t0 < 5:
        time.sleep(0.005)
    b.stop()
    assert sorted(completed) == [1, 2, 3]
    assert "dispatcher failed: KeyError" in b.failure.message
