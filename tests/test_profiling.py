"""Profiles (`--profile`, `python -m suite profile`, CONTRACT §17): the class tables, the
overhead accounting, the four collectors on a small model (one shared fixture: one
profile worker per framework), profile.csv and the stored records, the unavailable path.
The sweep wiring, the report section and `compare --profile` are in
tests/test_profiling_report.py."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from adapter_helpers import skip_or_fail
from suite import storage
from suite.profiling import driver as profile_driver
from suite.profiling import worker as profile_worker
from suite.profiling.breakdown import (CSV_COLUMNS, OpTime, Windows, csv_rows,
                                       profile_record, unavailable)
from suite.profiling.classes import (CLASSES, DELIBERATE_OTHER, OPTIMIZER_SCOPE, OTHER,
                                     OVERHEAD, classify)
from suite.profiling.collectors import mx_operator_times, ort_kernel_times
from suite.profiling.driver import profile_points, profile_settings
from suite.profiling.tf_ops import op_stats_times, scoped_type
from suite.spec import Measurement, PointSpec
from suite.topology import Core, Topology

NAMES_FILE = Path(__file__).with_name("profile_op_names.json")
SHORT = {"profile": {"warmup_s": 0.05, "warmup_steps": 2, "train_warmup_steps": 3,
                     "window_s": 0.05, "min_steps": 2}}
POINTS = [("pytorch", "train", "none"), ("mxnet", "train", "script"),
          ("tensorflow", "train", "script"), ("onnx", "infer", "script")]


# --- the class tables ---------------------------------------------------------------------

@pytest.mark.parametrize("framework,name,cls", [
    ("pytorch", "aten::mkldnn_convolution", "conv"),
    ("pytorch", "aten::convolution_backward", "conv"),
    ("pytorch", "aten::addmm", "matmul"),
    ("pytorch", "aten::native_batch_norm_backward", "norm"),
    ("pytorch", "aten::threshold_backward", "elementwise"),
    ("pytorch", "aten::max_pool2d_with_indices", "pooling"),
    ("pytorch", "aten::_log_softmax", "attention"),
    ("pytorch", "aten::copy_", "layout"),
    ("pytorch", "aten::empty", "allocation"),
    ("pytorch", OPTIMIZER_SCOPE + "aten::add_", "optimizer"),
    ("pytorch", "aten::add_", "elementwise"),
    ("pytorch", "autograd::engine::evaluate_function: ConvolutionBackward0", OVERHEAD),
    ("pytorch", "Optimizer.step#SGD.step", OVERHEAD),
    ("pytorch", "aten::no_such_op", OTHER),
    ("onnx", "Conv", "conv"), ("onnx", "FusedConv", "conv"), ("onnx", "Gemm", "matmul"),
    ("onnx", "ReorderInput", "layout"), ("onnx", "GlobalAveragePool", "pooling"),
    ("onnx", "LayerNormalization", "norm"), ("onnx", "Softmax", "attention"),
    ("onnx", "BatchNormalization", "norm"), ("onnx", "Relu", "elementwise"),
    ("tensorflow", "_MklNativeConv2DBackpropFilter", "conv"),
    ("tensorflow", "gradient_tape/_MklNativeConv2DBackpropFilter", "conv"),
    ("tensorflow", "_MklNativeFusedMatMul", "matmul"),
    ("tensorflow", "gradient_tape/moments/Sub", "norm"),
    ("tensorflow", "sgd_update/Mul", "optimizer"),
    ("tensorflow", "ResourceApplyMomentum", "optimizer"),
    ("tensorflow", "Mul", "elementwise"),
    ("tensorflow", "_MklNativeMaxPool", "pooling"),
    ("tensorflow", "SparseSoftmaxCrossEntropyWithLogits", "attention"),
    ("tensorflow", "Transpose", "layout"), ("tensorflow", "Fill", "allocation"),
    ("mxnet", "Convolution", "conv"), ("mxnet", "_backward_Convolution", "conv"),
    ("mxnet", "FullyConnected", "matmul"), ("mxnet", "_backward_BatchNorm", "norm"),
    ("mxnet", "multi_sgd_mom_update", "optimizer"), ("mxnet", "Pooling", "pooling"),
    ("mxnet", "_backward_mul_scalar", "elementwise"), ("mxnet", "_backward_pick", "attention"),
    ("mxnet", "CopyCPU2CPU", "layout"), ("mxnet", "_zeros", "allocation"),
    ("nosuchframework", "Conv", OTHER),
])
def test_classify_maps_each_frameworks_names_to_one_set_of_classes(framework, name, cls):
    assert classify(framework, name) == cls


def test_every_op_name_seen_on_the_zoo_maps_to_a_class_but_a_short_deliberate_list():
    """tests/profile_op_names.json holds every name the profilers reported on the zoo's
    models (benchmarks/profile_op_names.py): those in "other" are exactly the listed ones."""
    seen = json.loads(NAMES_FILE.read_text())["names"]
    assert set(seen) == {"pytorch", "mxnet", "tensorflow", "onnx"}
    other = {fw: sorted(n for n in names if classify(fw, n) == OTHER)
             for fw, names in seen.items()}
    assert other == {fw: sorted(DELIBERATE_OTHER.get(fw, ())) for fw in seen}
    assert sum(len(v) for v in other.values()) <= 10


# --- the arithmetic -----------------------------------------------------------------------

def test_classes_plus_overhead_are_the_profiled_step_and_the_cost_is_against_unprofiled():
    ops = [OpTime("aten::mkldnn_convolution", 6000.0, 4), OpTime("aten::addmm", 1000.0, 2),
           OpTime("aten::mkldnn_convolution", 2000.0, 4),   # summed per name
           OpTime("autograd::engine::evaluate_function: X", 500.0, 2),   # bookkeeping
           OpTime(OPTIMIZER_SCOPE + "aten::add_", 400.0, 20)]
    rec = profile_record("pytorch", ops, Windows(steps=2, profiled_ns=(11_000_000,),
                                                 unprofiled_ns=(9_800_000, 10_200_000)),
                         "torch.profiler")
    assert rec["classes_ms"]["conv"] == 4.0 and rec["classes_ms"]["matmul"] == 0.5
    assert rec["classes_ms"]["optimizer"] == 0.2
    assert rec["op_self_ms"] == pytest.approx(4.7)
    assert rec["profiled_step_ms"] == 5.5 and rec["unprofiled_step_ms"] == 5.0
    assert rec["overhead_ms"] == pytest.approx(0.8)        # 5.5 - 4.7, bookkeeping included
    assert rec["bookkeeping_ms"] == 0.25
    assert sum(rec["classes_ms"].values()) + rec["overhead_ms"] == pytest.approx(5.5)
    assert sum(rec["classes_pct"].values()) + rec["overhead_pct"] == pytest.approx(100.0, abs=1e-3)
    assert rec["profiler_cost_pct"] == pytest.approx(10.0)
    assert list(rec["classes_ms"]) == list(CLASSES)
    conv = next(o for o in rec["ops"] if o["name"] == "aten::mkldnn_convolution")
    assert conv == {"name": "aten::mkldnn_convolution", "class": "conv", "ms_per_step": 4.0,
                    "calls_per_step": 4.0}


def test_trace_readers_keep_the_window_and_the_units():
    runs = [{"name": "model_run", "cat": "Session", "ts": t, "dur": 100} for t in (0, 200, 400)]
    nodes = [{"name": f"n{t}_kernel_time", "cat": "Node", "ts": t + 10, "dur": 50,
              "args": {"op_name": "Conv"}} for t in (0, 200, 400)]
    ops = ort_kernel_times(runs + nodes, steps=2)      # the warm-up's run left out
    assert [(o.name, o.self_us) for o in ops] == [("Conv", 50.0), ("Conv", 50.0)]
    stats = {"Time": {"operator": {"Convolution": {"Count": 4, "Total": 1.5}}},
             "Unit": {"Time": "ms"}}
    assert mx_operator_times(stats) == [OpTime("Convolution", 1500.0, 4)]
    assert scoped_type("gradient_tape/moments_17/sub", "Sub") == "gradient_tape/moments/Sub"
    table = {"cols": [{"id": k} for k in ("type", "operation", "host_or_device",
                                          "occurrences", "total_self_time")],
             "rows": [{"c": [{"v": v} for v in row]} for row in (
                 ("IDLE", "IDLE", "Host", 0, 99.0), ("AddV2", "sgd_update/add_3", "Host", 2, 7.0))]}
    assert op_stats_times([table]) == ([OpTime("sgd_update/AddV2", 7.0, 2)], "host")


# --- the unavailable path -----------------------------------------------------------------

class BrokenCollector:
    framework, profiler, profiled_first, note = "pytorch", "a broken profiler", False, ""

    def build_options(self, workdir):
        return {}

    def start(self, runnable, workdir):
        raise RuntimeError("no profiler here")


class StepCounter:
    def __init__(self) -> None:
        self.steps = 0

    def step(self) -> None:
        self.steps += 1

    def synchronize(self) -> None:
        pass


def test_a_failing_or_missing_profiler_is_an_unavailable_record(monkeypatch):
    spec = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, threads=1)
    monkeypatch.setattr(profile_worker, "build_runnable", lambda *a, **k: StepCounter())
    settings = {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0, "seed": 0, **SHORT}
    rec = profile_worker.profile_point(None, BrokenCollector(), spec, settings)
    assert rec == unavailable("a broken profiler failed: RuntimeError: no profiler here")
    rec = profile_worker.profile_point(None, None, spec, settings)
    assert rec["status"] == "unavailable" and "no profiler collector" in rec["reason"]
    assert csv_rows(spec.to_dict(), rec)[0]["status"] == "unavailable"


# --- the windows: warm-up, thrown-away profiled windows, the spare CPU ----------------------

class QueuedSteps:
    """A runnable whose step() only queues work, as MXNet's does; synchronize() runs it on a
    fake clock, 10 ms a step. More than `limit` queued steps means nobody waits for them."""

    def __init__(self, limit: int = 1000) -> None:
        self.now_ns, self.queued, self.steps, self.limit = 0, 0, 0, limit

    def step(self) -> None:
        self.queued += 1
        self.steps += 1
        assert self.queued <= self.limit, "steps queued without waiting for them"

    def synchronize(self) -> None:
        self.now_ns += 10_000_000 * self.queued
        self.queued = 0


def fake_clock(monkeypatch, runnable: QueuedSteps) -> None:
    clock = SimpleNamespace(perf_counter_ns=lambda: runnable.now_ns,
                            perf_counter=lambda: runnable.now_ns / 1e9)
    monkeypatch.setattr(profile_worker, "time", clock)


def test_warm_up_waits_for_each_step_of_an_asynchronous_framework(monkeypatch):
    runnable = QueuedSteps(limit=5)     # the warm-up's own 5-step probe is one window
    fake_clock(monkeypatch, runnable)
    settings = dict(profile_worker.DEFAULTS, warmup_s=1.0, train_warmup_steps=20)
    step_s = profile_worker.warm_up(runnable, settings, "train")
    assert step_s == pytest.approx(0.010)
    assert runnable.steps == 100 + 5        # one second of 10 ms steps, then the probe


class CountingCollector:
    """Windows' op times: 1000 µs per step in the first `costly` windows (a profiler's
    first sessions), 10 µs after; counts its sessions."""
    framework, profiler, profiled_first, note = "pytorch", "a counting profiler", False, ""

    def __init__(self, costly: int) -> None:
        self.costly, self.sessions = costly, 0

    def start(self, runnable, workdir):
        self.sessions += 1

    def stop(self, runnable, steps):
        us = 1000.0 if self.sessions <= self.costly else 10.0
        return [OpTime("aten::mkldnn_convolution", us * steps, steps)], "host"


def test_the_profilers_first_windows_are_run_and_thrown_away(monkeypatch, tmp_path):
    runnable = QueuedSteps()
    fake_clock(monkeypatch, runnable)
    spec = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, threads=1)
    settings = dict(profile_worker.DEFAULTS, profiler_warmup=3, rounds=2)
    collector = CountingCollector(costly=3)
    rec = profile_worker.profile_runnable(runnable, collector, spec, settings, tmp_path)
    assert collector.sessions == 3 + 2
    assert rec["windows"] == 5 and len(rec["window_step_ms"]["profiled"]) == 2
    assert rec["classes_ms"]["conv"] == pytest.approx(0.010)   # the kept windows' only
    rec = profile_worker.profile_runnable(runnable, CountingCollector(costly=3), spec,
                                          dict(settings, profiler_warmup=0), tmp_path)
    assert rec["classes_ms"]["conv"] > 0.010                   # without: the costly ones


def test_the_profile_worker_gets_one_spare_core_for_the_profilers_threads():
    topo = Topology([Core(0, c, 0, (c, c + 4)) for c in range(4)], {0: list(range(8))})
    one = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, threads=1)
    init = profile_driver._init(topo, one, 60.0)
    assert init["threads"] == 1 and init["profiler_cpu"] == 3
    assert init["cores"] == [0, 3]
    every = PointSpec("train", "pytorch", "none", "resnet18", 2, 32, threads=4)
    init = profile_driver._init(topo, every, 60.0)
    assert init["profiler_cpu"] is None and init["cores"] == [0, 1, 2, 3]


# --- the four frameworks on a small model ---------------------------------------------------

@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory):
    """ResNet-18 at 32 px, batch 2, one thread, profiled once in each framework (training in
    pytorch, mxnet and tensorflow; inference in onnx) through the driver and its workers."""
    run = tmp_path_factory.mktemp("profiled")
    storage.write_run_info(run, storage.RunInfo("t", "train", [], {}, {}, ""))
    originals = []
    for fw, task, opt in POINTS:
        m = Measurement(PointSpec(task, fw, opt, "resnet18", 2, 32, threads=1),
                        samples_ns=[70_000_000, 71_000_000, 69_000_000],
                        memory={"peak_rss_mib": 400.0}, meta={"worker_pid": 1})
        storage.append_measurement(run, m)
        originals.append(m)
    storage.append_measurement(run, Measurement(PointSpec("train", "pytorch", "none",
                                                          "resnet18", 4, 32, threads=1),
                                                status="oom", message="out of memory"))
    done = profile_points(run, settings=profile_settings({}, SHORT), timeout_s=300)
    return run, originals, {m.spec.framework: m for m in done}


@pytest.mark.slow
@pytest.mark.parametrize("framework", [fw for fw, _, _ in POINTS])
def test_each_framework_profile_adds_up_and_lands_in_known_classes(profiled_run, framework):
    run, originals, done = profiled_run
    p = done[framework].profile
    if p["status"] != "ok":
        skip_or_fail(framework, p["reason"])
    total = sum(p["classes_ms"].values()) + p["overhead_ms"]
    assert total == pytest.approx(p["profiled_step_ms"], abs=1e-3)
    assert p["op_self_ms"] > 0.5 * p["profiled_step_ms"]       # the profiler saw the ops
    assert p["op_self_ms"] < 1.2 * p["profiled_step_ms"]       # ... once (one thread)
    assert p["windows"] == 3 if framework == "onnx" else p["windows"] == 5
    biggest = max(p["classes_ms"], key=p["classes_ms"].get)
    assert biggest in ("conv", "optimizer"), p["classes_ms"]   # ResNet: convolutions, SGD
    assert p["classes_ms"]["conv"] > 0.2 * p["op_self_ms"]
    if framework != "onnx":
        assert p["classes_ms"]["optimizer"] > 0 and p["classes_ms"]["norm"] > 0
    others = {o["name"] for o in p["ops"] if o["class"] == OTHER}
    assert others <= set(DELIBERATE_OTHER[framework])
    assert p["unprofiled_step_ms"] > 0 and p["timed_step_ms"] == 70.0
    assert abs(p["profiler_cost_pct"]) < 100


@pytest.mark.slow
def test_profiling_stores_the_record_and_leaves_every_timing_figure_alone(profiled_run):
    run, originals, _ = profiled_run
    stored = {m.spec.key(): m for m in storage.load_measurements(run)}
    assert len(stored) == len(originals) + 1
    for m in originals:
        after = stored[m.spec.key()]
        assert after.profile is not None
        record, before = after.to_record(), m.to_record()
        del record["profile"]
        assert record == before
    oom = [m for m in stored.values() if m.status == "oom"]
    assert oom and oom[0].profile is None                      # only ok points are profiled


@pytest.mark.slow
def test_profile_csv_has_a_row_per_class_and_the_points_figures(profiled_run):
    run, originals, done = profiled_run
    with open(run / "profile.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == CSV_COLUMNS
    for fw, m in done.items():
        mine = [r for r in rows if r["framework"] == fw]
        if m.profile["status"] != "ok":
            assert [r["status"] for r in mine] == ["unavailable"]
            continue
        assert [r["class"] for r in mine] == [*CLASSES, OVERHEAD]
        assert {r["model"] for r in mine} == {"resnet18"} and mine[0]["batch_size"] == "2"
        assert sum(float(r["ms_per_step"]) for r in mine) == pytest.approx(
            float(mine[0]["profiled_step_ms"]), abs=1e-2)
        assert float(mine[0]["unprofiled_step_ms"]) == m.profile["unprofiled_step_ms"]
