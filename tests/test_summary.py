"""The report's headline (suite.report.summary), the % of peak figures (suite.peak) and
where both show: points.csv, index.md / index.html and the console."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite.peak import measure_peak, peak_gflops, peak_text, percent_of_peak
from suite.report import build_report_with_summary
from suite.report.frames import measurements_frame, with_peak
from suite.report.summary import SummarySection, summarize, summary_text
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info

PEAK = {"gflops_by_threads": {"1": 100.0, "2": 200.0}, "method": "test matmul"}
ENV = {"cpu_model": "Test CPU", "physical_cores": 2, "logical_cores": 2,
       "numa_nodes": [{"node": 0, "cpus": [0, 1]}], "siblings": {"0": [0], "1": [1]},
       "memory_mib": 16384.0, "gpus": [], "versions": {"python": "3.11"}, "git_commit": "abc",
       "peak": PEAK}
CONFIG = {"task": "infer", "precision": 0.02}


def point(framework="pytorch", optimization="none", model="resnet18", batch_size=4,
          threads=2, step_ms=100.0, spread=0.01, task="infer", memory="local",
          flops_per_item=1e9) -> Measurement:
    """Steps alternating ±`spread` around step_ms (40 of them): a CI of about ±spread/3."""
    spec = PointSpec(task=task, framework=framework, optimization=optimization, model=model,
                     batch_size=batch_size, input_size=32, threads=threads, memory=memory)
    samples = [int(step_ms * (1 + spread * (-1) ** k) * 1e6) for k in range(40)]
    return Measurement(spec, samples_ns=samples, items_per_step=batch_size,
                       flops_per_item=flops_per_item, memory={"peak_rss_mib": 100.0},
                       precision_reached=True)


def frame(points, environment=ENV) -> pd.DataFrame:
    return with_peak(measurements_frame(points, 0.02), environment.get("peak"))


def lines(sections, title):
    return next(s.lines for s in sections if s.title == title)


def test_peak_lookup_and_percent():
    assert peak_gflops(PEAK, 2) == 200.0 and peak_gflops(PEAK, 4) is None
    assert peak_gflops(None, 1) is None
    # measured lower at 2 threads than at 1 (a busy machine): the larger figure counts
    busy = {"gflops_by_threads": {"1": 140.0, "2": 120.0}}
    assert peak_gflops(busy, 2) == 140.0 and peak_gflops(busy, 1) == 140.0
    assert percent_of_peak(50.0, 200.0) == 25.0 and percent_of_peak(None, 200.0) is None
    assert peak_text(PEAK) == "100 GFLOP/s at 1 thread, 200 GFLOP/s at 2 threads"
    assert peak_text(None) == "not measured"


def test_points_get_gflops_and_percent_of_peak():
    # batch 4 at 100 ms, 1 GFLOP per item: 40 GFLOP/s; 20% of the 2-thread peak
    f = frame([point(), point(threads=1), point(threads=3)])
    assert f["gflops_per_second"].tolist() == pytest.approx([40.0, 40.0, 40.0])
    assert f["percent_of_peak"].tolist()[:2] == pytest.approx([20.0, 40.0])
    assert np.isnan(f["percent_of_peak"].iloc[2])       # no peak measured at 3 threads


def test_measured_peak_is_positive_and_says_how(monkeypatch):
    monkeypatch.delenv("DLBENCH_PEAK", raising=False)   # the probe itself, not the kept peak
    peak = measure_peak([1], lambda threads: [0])
    assert peak["gflops_by_threads"]["1"] > 0 and "BLAS" in peak["method"]


def inference_points():
    return [
        point(optimization="script", step_ms=80.0),              # 50 images/s: the fastest
        point(optimization="none", step_ms=100.0),               # 40: pytorch's default
        point(optimization="none", threads=1, step_ms=200.0),    # 20
        point(optimization="none", batch_size=1, threads=1, step_ms=100.0),   # 10: slowest
        point(optimization="none", batch_size=1, threads=2, step_ms=60.0),    # lowest latency
    ]


def test_inference_headline_names_the_fastest_and_its_speedups():
    throughput, latency = lines(summarize(frame(inference_points()), CONFIG, ENV), "Inference")
    assert throughput == (
        "**ResNet-18**, highest throughput: **pytorch (TorchScript), 2 threads, batch 4**, "
        "50.00 ± 0.09 images/s (25% of the 200 GFLOP/s peak); vs the default (pytorch "
        "(eager), 2 threads, batch 4): 1.25x")
    assert "slowest" not in throughput      # configurations are not ranked best vs worst
    assert latency == ("ResNet-18, lowest latency at batch 1: **pytorch (eager), 2 threads**, "
                       "60.0 ± 0.6 ms median")


def test_overlapping_intervals_say_no_significant_difference():
    # two modes 0.5% apart with ±5% step noise: the CIs overlap
    pts = [point(optimization="script", step_ms=99.5, spread=0.05),
           point(optimization="none", step_ms=100.0, spread=0.05)]
    throughput = lines(summarize(frame(pts), CONFIG, ENV), "Inference")[0]
    assert "— no significant difference from pytorch (eager), 2 threads, batch 4 at" in throughput
    assert "vs the default (pytorch (eager), 2 threads, batch 4): no significant difference" \
        in throughput


def test_training_headline_per_model_and_batch():
    pts = [point("pytorch", "none", task="train", step_ms=100.0),
           point("tensorflow", "script", task="train", step_ms=50.0),
           point("pytorch", "none", task="train", batch_size=8, step_ms=100.0, spread=0.05),
           point("tensorflow", "script", task="train", batch_size=8, step_ms=101.0,
                 spread=0.05)]
    train = lines(summarize(frame(pts), dict(CONFIG, task="train"), ENV), "Training")
    assert train[0].startswith("**ResNet-18**, batch 4: fastest **tensorflow (tf.function)**, "
                               "80.00 ± 0.14 images/s (40% of the 200 GFLOP/s peak)")
    assert train[0].endswith("(40% of the 200 GFLOP/s peak)") and "slowest" not in train[0]
    assert train[1].startswith("**ResNet-18**, batch 8: fastest **pytorch (eager)**")
    assert "no significant difference from tensorflow (tf.function) at" in train[1]


def test_numa_change_over_matched_points():
    env = dict(ENV, numa_nodes=[{"node": 0, "cpus": [0]}, {"node": 1, "cpus": [1]}])
    pts = [point(threads=1), point(threads=1, memory="remote", step_ms=110.0),
           point(threads=2, batch_size=1), point(threads=2, batch_size=1, memory="remote",
                                                 step_ms=100.5, spread=0.05)]
    numa, ht = lines(summarize(frame(pts, env), CONFIG, env), "NUMA and hyper-threading")
    assert numa.startswith("NUMA, remote vs local memory: -4.9% throughput (geometric mean "
                           "of 2 matched points, -9.1% to -0.5%; 1 of 2 significant)")
    assert ht == ("hyper-threading, on vs off: not measured (`--ht both`; this machine has "
                  "no hyper-thread siblings)")


def test_precision_line_and_extra_sections():
    pts = inference_points()
    pts[0].samples_ns = [int(v * 1e6) for v in (80, 120) * 20]     # ±20%: imprecise
    extra = [SummarySection("Serving", ["tune: 2 instances x 1 thread, batch 4"])]
    sections = summarize(frame(pts), CONFIG, ENV, extra)
    assert [s.title for s in sections] == ["Inference", "NUMA and hyper-threading",
                                           "Distance to peak", "Precision", "Serving"]
    assert lines(sections, "Precision") == [
        "precision: 4 of 5 measured points reached ±2% (95% CI of median and throughput) (80%)"]
    text = summary_text(sections)
    assert "**" not in text and "`" not in text and "  - tune: 2 instances" in text


def test_precision_line_names_points_held_back_by_their_processes_spread():
    """Three processes at 90, 100 and 110 ms (10% apart) cannot average to ±2% within 8;
    a point imprecise from step noise alone (one process) is not counted as held back."""
    pts = inference_points()
    pts[0].samples_ns = [int(v * 1e6) for v in [90] * 20 + [100] * 20 + [110] * 20]
    pts[0].samples_per_process = [20, 20, 20]
    pts[1].samples_ns = [int(v * 1e6) for v in (80, 120) * 20]
    line, = lines(summarize(frame(pts), dict(CONFIG, max_processes=8), ENV), "Precision")
    assert line == ("precision: 3 of 5 measured points reached ±2% (95% CI of median and "
                    "throughput) (60%); 1 of the 2 short were held back by the spread between "
                    "their processes (10.0% to 10.0% sd), more than 8 processes can average "
                    "to ±2%: the machine's own run-to-run noise, not too few steps")
    assert frame(pts)["process_spread"].iloc[0] == pytest.approx(0.1)


def write_run(path: Path, points, environment=ENV) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task="infer", command=["dlbench", "infer"],
                                 config=CONFIG, environment=environment,
                                 started_at="2026-01-01T12:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


def test_page_opens_with_the_summary_contents_and_fingerprint(tmp_path):
    run = write_run(tmp_path / "run", inference_points())
    index, headline = build_report_with_summary(run)
    md = index.read_text()
    assert md.index("## Contents") < md.index("# Summary") < md.index("# About this run")
    assert "- [Summary](#summary)" in md and '<a id="summary"></a>' in md
    assert headline[0].lines[0] in md
    assert "> **Environment fingerprint**" in md and "> - memory: 16.0 GiB" in md
    assert "200 GFLOP/s at 2 threads" in md
    for csv in ("points.csv", "failures.csv"):
        assert f"- [{csv}]({csv})" in md
    html = (run / "index.html").read_text()
    assert '<details open id="resnet-18-pytorch"><summary>ResNet-18 (pytorch)</summary>' in html
    assert '<nav><h2>Contents</h2>' in html and '<div class="box">' in html
    points = pd.read_csv(run / "points.csv")
    assert {"gflops_per_second", "percent_of_peak", "peak_gflops_per_second"} <= set(points)
    assert (run / "plots" / "resnet18-roofline-infer.png").is_file()
    assert (run / "plots" / "bars-infer-bs4.png").is_file()


def test_console_line_shows_gflops_and_percent_of_peak():
    from suite.progress import describe
    assert ", 40.0 GFLOP/s (20% of peak), peak 100 MiB" in describe(point(), PEAK)
    assert ", 40.0 GFLOP/s, peak" in describe(point(threads=3), PEAK)   # no peak at 3 threads


def test_peak_measuring_stays_short_for_many_thread_counts():
    from suite.peak import MIN_MEASURE_S, seconds_each
    assert seconds_each(2) == 0.3 and seconds_each(16) == 0.125
    assert seconds_each(64) == MIN_MEASURE_S


def test_distance_to_peak_names_the_closest_point_and_warns_above_100():
    pts = [point(step_ms=100.0), point(threads=1, step_ms=20.0)]    # 40 and 200 GFLOP/s
    closest, warning = lines(summarize(frame(pts), CONFIG, ENV), "Distance to peak")
    assert closest == ("closest to its peak: ResNet-18, pytorch (eager), "
                       "1 thread, batch 4 (infer): 200 GFLOP/s, 200% of 100 "
                       "(the float32 FMA limit at 1 thread)")
    assert warning.startswith("1 point(s) exceed the measured peak: it was measured while "
                              "the machine was busy")


def test_training_lines_never_rank_other_configurations_together():
    """Two dtypes and two world sizes of one model and batch: one line each, each naming
    its configuration (they were ranked together as if they were frameworks)."""
    import dataclasses

    from suite.report.overview import comparable_points
    base = [point(task="train", framework=fw, step_ms=ms) for fw, ms in
            (("pytorch", 100.0), ("tensorflow", 80.0))]
    bf16 = [dataclasses.replace(m, spec=dataclasses.replace(m.spec, dtype="bfloat16"))
            for m in (point(task="train", step_ms=50.0),)]
    ddp = [dataclasses.replace(m, spec=dataclasses.replace(m.spec, nproc_per_node=2))
           for m in (point(task="train", step_ms=60.0),)]
    training = lines(summarize(frame(base + bf16 + ddp), {"task": "train"}, ENV), "Training")
    assert len(training) == 3
    assert training[0].startswith("**ResNet-18**, batch 4, bfloat16, 1 rank(s): fastest "
                                  "**pytorch (eager)**")
    assert "batch 4, float32, 1 rank(s): fastest **tensorflow" in training[1]
    assert "batch 4, float32, 2 rank(s): fastest **pytorch (eager)**" in training[2]
    chosen = comparable_points(frame(base + bf16 + ddp), "train")
    assert len(chosen) == 2 and set(chosen["dtype"]) == {"float32"}     # one per framework
    assert set(chosen["nproc_per_node"]) == {1}
