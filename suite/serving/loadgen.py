"""MLPerf LoadGen (`mlcommons-loadgen`, imported as `mlperf_loadgen`): its settings for a
scenario, one performance test against a `Batcher`, and its verdict read from the logs.

LoadGen writes mlperf_log_summary.txt and mlperf_log_detail.txt into the folder given;
the detail log's `result_*` records (JSON after ":::MLLOG ") hold its percentiles,
achieved rate and validity, read here, never recomputed.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from suite.errors import UsageError

SCENARIOS = ("singlestream", "server", "offline", "multistream")   # multistream: one
# query of `samples_per_query` samples at a time (tune --batch: the latency of a batch)
ABORT_WAIT_S = 5.0         # how long Ctrl-C waits for LoadGen to finish its schedule
SAMPLE_COUNT = 1024        # samples in the (synthetic) query sample library
INSTALL = "pip install mlcommons-loadgen"
# LoadGen's result records and the reason a False one gives for an INVALID verdict
CHECKS = {"result_perf_constraints_met": "latency constraint not met",
          "result_min_duration_met": "minimum duration not met",
          "result_min_queries_met": "minimum query count not met",
          "early_stopping_met": "early stopping not satisfied"}


def import_loadgen() -> Any:
    """The LoadGen module, or a UsageError saying how to install it."""
    try:
        import mlperf_loadgen
    except ImportError:
        raise UsageError(f"serving needs MLPerf LoadGen: {INSTALL}") from None
    return mlperf_loadgen


@dataclass(frozen=True)
class LoadSettings:
    """One LoadGen test: the scenario and its limits."""

    scenario: str               # singlestream | server | offline
    target_qps: float           # server: Poisson rate; offline: expected rate
    p99_ms: float               # server: target latency at the 99th percentile
    duration_s: float           # LoadGen's min_duration
    min_queries: int            # LoadGen's min_query_count
    # single/multistream: LoadGen pre-generates min_duration / this many queries, and a
    # test that runs out before min_duration is INVALID; small = enough queries
    expected_latency_ms: float = 0.5
    samples_per_query: int = 1          # multistream's samples per query
    seed: int = 0


def test_settings(lg: Any, s: LoadSettings) -> Any:
    """LoadGen's TestSettings for a performance-only run."""
    ts = lg.TestSettings()
    ts.mode = lg.TestMode.PerformanceOnly
    ts.min_duration_ms = int(s.duration_s * 1000)
    ts.min_query_count = int(s.min_queries)
    ts.schedule_rng_seed = ts.sample_index_rng_seed = ts.qsl_rng_seed = s.seed
    if s.scenario == "server":
        ts.scenario = lg.TestScenario.Server
        ts.server_target_qps = float(s.target_qps)
        ts.server_target_latency_ns = int(s.p99_ms * 1e6)
        ts.server_target_latency_percentile = 0.99
    elif s.scenario == "offline":
        ts.scenario = lg.TestScenario.Offline
        ts.offline_expected_qps = float(s.target_qps)
    elif s.scenario == "multistream":
        ts.scenario = lg.TestScenario.MultiStream
        ts.multi_stream_samples_per_query = int(s.samples_per_query)
        ts.multi_stream_expected_latency_ns = int(s.expected_latency_ms * 1e6)
        ts.multi_stream_target_latency_percentile = 0.99
    else:
        ts.scenario = lg.TestScenario.SingleStream
        ts.single_stream_expected_latency_ns = int(s.expected_latency_ms * 1e6)
        ts.single_stream_target_latency_percentile = 0.9
    return ts


def run_test(s: LoadSettings, issue: Callable[[list[int]], None], log_dir: Path,
             abort: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Run one LoadGen test that hands query ids to `issue`; its parsed result records.

    LoadGen's test runs in a thread, so that a Ctrl-C reaches this (main) thread: it
    calls `abort` (the caller's SUT then completes every query at once) and re-raises
    once LoadGen has finished its schedule, or after ABORT_WAIT_S.
    """
    lg = import_loadgen()
    log_dir.mkdir(parents=True, exist_ok=True)
    sut = lg.ConstructSUT(lambda qs: issue([q.id for q in qs]), lambda: None)
    qsl = lg.ConstructQSL(SAMPLE_COUNT, SAMPLE_COUNT, lambda _: None, lambda _: None)
    logs = lg.LogSettings()
    logs.log_output.outdir = str(log_dir)
    logs.log_output.copy_summary_to_stdout = False
    logs.enable_trace = False
    test = threading.Thread(target=lg.StartTestWithLogSettings,
                            args=(sut, qsl, test_settings(lg, s), logs), daemon=True)
    test.start()
    try:
        while test.is_alive():
            test.join(0.2)
    except KeyboardInterrupt:
        abort()
        test.join(ABORT_WAIT_S)   # LoadGen has no abort: a long schedule is left running
        raise                     # in its daemon thread, ended with the process
    finally:
        if not test.is_alive():
            lg.DestroyQSL(qsl)
            lg.DestroySUT(sut)
    return read_detail(log_dir / "mlperf_log_detail.txt")


def complete_queries(ids: list[int]) -> None:
    """Tell LoadGen these queries are done (no response payload: performance mode)."""
    lg = import_loadgen()
    lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])


def read_detail(path: Path) -> dict[str, Any]:
    """The `result_*`, `early_stopping_*` and `effective_*` records of a detail log."""
    out: dict[str, Any] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        raise RuntimeError(f"LoadGen wrote no detail log ({path}): {e}") from None
    for line in lines:
        if not line.startswith(":::MLLOG "):
            continue
        try:
            rec = json.loads(line[len(":::MLLOG "):])
        except ValueError:
            continue
        key = rec.get("key", "")
        if key.startswith(("result_", "early_stopping", "effective_")) \
                or key in ("loadgen_version", "generated_query_count"):
            out[key] = rec.get("value")
    return out


def verdict(records: dict[str, Any]) -> tuple[bool, list[str]]:
    """LoadGen's VALID/INVALID and the reasons for an INVALID one, in its own words."""
    valid = records.get("result_validity") == "VALID"
    reasons = [text for key, text in CHECKS.items() if records.get(key) is False]
    if records.get("result_invalid_reason"):
        reasons.append(str(records["result_invalid_reason"]))
    early = " ".join(str(records.get("early_stopping_result", "")).replace("*", "").split())
    if records.get("early_stopping_met") is False and early:
        reasons.append(f"early stopping: {early}")
    return valid, reasons
