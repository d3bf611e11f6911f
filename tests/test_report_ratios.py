"""The paired ratios in the report: ratios.csv, the summary's lines, the "Ratios" section,
the training cross-framework tables, and compare's check of the frameworks' order."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite.report import build_report_with_summary
from suite.report.compare import compare_runs
from suite.report.frames import load_run
from suite.report.ratio_tables import RATIO_COLUMNS
from suite.spec import Measurement
from suite.storage import RunInfo, append_measurement, write_run_info
from test_ratios import CONFIG, point, spec

ENV = {"cpu_model": "Test CPU", "physical_cores": 2, "logical_cores": 2, "gpus": [],
       "numa_nodes": [{"node": 0, "cpus": [0, 1]}], "siblings": {"0": [0], "1": [1]}}
INFER = dict(CONFIG, task="infer", precision=0.02, processes=6, schedule="interleaved",
             control="some")


def write_run(path: Path, points: list[Measurement], config: dict = INFER) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task=config.get("task", "infer"),
                                 command=["dlbench"], config=config, environment=ENV,
                                 started_at="2026-01-01T12:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


def interleaved(rng: np.random.Generator, factor: float = 1.5, rounds: int = 6,
                task: str = "infer", batches=(1, 4), control: bool = True,
                noise: float = 0.005) -> list[Measurement]:
    """Per batch size a block of pytorch (eager), onnx `factor` times as fast, and (with
    `control`) a control arm; the machine drifts by up to 20% between rounds."""
    pts = []
    for b in batches:
        speed = 100.0 * (1 - 0.2 * rng.random(rounds))
        own = lambda: 1 + noise * rng.standard_normal(rounds)      # noqa: E731
        variants = [("pytorch", "none", "", 1.0), ("onnx", "script", "", factor)]
        variants += [("pytorch", "none", "control", 1.0)] if control else []
        for fw, opt, arm, f in variants:
            s = spec(fw, opt, arm, batch_size=b)
            if task == "train":
                s = type(s)(**dict(s.to_dict(), task="train"))
            pts.append(point(s, list(speed * f * own()), rng=rng, step_noise=0.01))
    return pts


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("ratios") / "run",
                    interleaved(np.random.default_rng(4)))
    index, headline = build_report_with_summary(run)
    return run, index, headline


def test_ratios_csv_has_the_contract_columns(report):
    run, _, _ = report
    csv = pd.read_csv(run / "ratios.csv", keep_default_na=False)
    assert list(csv.columns) == RATIO_COLUMNS
    assert RATIO_COLUMNS == ["model", "task", "batch_size", "threads", "device", "dtype",
                             "image_size", "framework", "optimization", "arm",
                             "ref_framework", "ref_optimization", "ratio", "ratio_low",
                             "ratio_high", "rounds", "mde_pct", "verdict"]
    onnx = csv[csv["framework"] == "onnx"]
    assert onnx["verdict"].tolist() == ["faster", "faster"]
    assert onnx["ratio"].tolist() == pytest.approx([1.5, 1.5], rel=0.01)
    assert (onnx["ratio_low"] < 1.5).all() and (onnx["ratio_high"] > 1.5).all()
    assert onnx["rounds"].tolist() == [6, 6] and (onnx["mde_pct"] > 0).all()
    control = csv[csv["arm"] == "control"]
    assert len(control) == 2 and set(control["framework"]) == {"pytorch"}
    assert all(v.startswith("no difference resolved (this cell resolves >= ")
               for v in control["verdict"])


def test_summary_states_ratios_resolution_and_control_arms(report):
    _, index, headline = report
    lines = next(s.lines for s in headline if s.title == "Frameworks compared")
    assert lines[0] == ("throughput over pytorch (eager) in the same block (> 1: faster), "
                        "95% CI over rounds:")
    assert re.fullmatch(r"ResNet-18, batch 1, 1 thread: onnx \(ORT optimized\) 1\.\d+x "
                        r"pytorch \(eager\) \[1\.4\d+, 1\.5\d+\]", lines[1]), lines[1]
    assert lines[3].startswith("this run resolves differences of ")
    assert "% or more (median over cells; 80% power, Holm-corrected over 4 ratios, 6 rounds)" \
        in lines[3]
    assert lines[4].startswith("control arms: 0 of 2 called different")
    text = index.read_text()
    section = text.split("# Ratios")[1].split("# Frameworks compared")[0]
    rows = [line for line in section.splitlines() if line.startswith("|ResNet-18")]
    assert len(rows) == 4 and "**1.5" in rows[0] and "|faster" in rows[0]
    assert "pytorch (eager), control arm" in rows[1] and "no difference resolved" in rows[1]
    assert "[ratios.csv](ratios.csv)" in text
    assert "slowest" not in text.split("# About this run")[0]


def test_summary_line_wording(report):
    """The contract's form: "<block>: <variant> 1.50x <reference> [low, high]"."""
    _, _, headline = report
    lines = next(s.lines for s in headline if s.title == "Frameworks compared")
    block, _, phrase = lines[2].partition(": ")
    assert block == "ResNet-18, batch 4, 1 thread"
    words = phrase.split(" ")
    assert words[:3] == ["onnx", "(ORT", "optimized)"] and words[3].endswith("x")
    assert words[4:6] == ["pytorch", "(eager)"]
    low, high = (float(w.strip("[],")) for w in words[6:8])
    assert low < float(words[3][:-1]) < high and low > 1.4 and high < 1.6


def test_control_arms_are_left_out_of_tables_and_plots_but_kept_in_points_csv(report):
    run, _, _ = report
    loaded = load_run(run)
    assert (loaded.frame["arm"] == "").all() and len(loaded.frame) == 4
    points = pd.read_csv(run / "points.csv", keep_default_na=False)
    assert (points["arm"] == "control").sum() == 2 and len(points) == 6


def test_one_process_per_point_says_no_ratio_is_available(tmp_path):
    pts = [point(spec("pytorch"), [100.0]), point(spec("onnx", "script"), [150.0])]
    for m in pts:
        m.meta = {}
    run = write_run(tmp_path / "one", pts, dict(INFER, processes=1, schedule="sequential"))
    _, headline = build_report_with_summary(run)
    lines = next(s.lines for s in headline if s.title == "Frameworks compared")
    assert lines == ["ratios not available: each point ran in one process: no spread to "
                     "give an interval (--processes 3); no CI is stated"]
    csv = pd.read_csv(run / "ratios.csv", keep_default_na=False)
    assert csv["ratio_low"].tolist() == [""] and csv["rounds"].tolist() == [0]


def test_sequential_processes_give_unpaired_ratios_and_say_so(tmp_path):
    pts = [point(spec("pytorch"), [100.0, 102.0, 98.0], rounds=False),
           point(spec("onnx", "script"), [150.0, 153.0, 147.0], rounds=False)]
    run = write_run(tmp_path / "seq", pts, dict(INFER, processes=3, schedule="sequential"))
    _, headline = build_report_with_summary(run)
    lines = next(s.lines for s in headline if s.title == "Frameworks compared")
    assert lines[0].startswith("ratios unpaired: its processes did not run in interleaved "
                               "rounds (--schedule sequential, or a run from before rounds)")
    assert lines[1].endswith("95% CI over processes:")
    assert "onnx (ORT optimized) 1.50" in lines[2]


def test_training_cross_table_states_paired_ratios(tmp_path):
    config = dict(INFER, task="train", models=["resnet18"], batches=[1, 4], optimizer="sgd")
    run = write_run(tmp_path / "train", interleaved(np.random.default_rng(6), 1.25,
                                                    task="train", control=False), config)
    build_report_with_summary(run)
    table = (run / "train-frameworks-bs4.md").read_text()
    assert "lead (95% CI)" not in table
    header = next(line for line in table.splitlines() if line.startswith("|model"))
    assert "onnx (ORT optimized) / pytorch (eager)" in header
    row = next(line for line in table.splitlines() if line.startswith("|ResNet-18"))
    cell = row.rstrip("|").split("|")[-1].strip()
    assert cell.startswith("**1.2") and cell.endswith("]**")
    assert "ratio columns: the column's images/sec over pytorch (eager)'s" in table
    csv = pd.read_csv(run / "train-frameworks-bs4.csv")
    name = "onnx (ORT optimized) / pytorch (eager)"
    assert csv[name].iloc[0] == pytest.approx(1.25, rel=0.02)
    assert csv[f"{name} verdict"].iloc[0] == "faster"


def test_compare_flags_a_change_in_the_frameworks_order(tmp_path):
    a = write_run(tmp_path / "A", interleaved(np.random.default_rng(1), 1.5))
    same = write_run(tmp_path / "B", interleaved(np.random.default_rng(2), 1.5))
    moved = write_run(tmp_path / "C", interleaved(np.random.default_rng(3), 1.3))
    held = compare_runs(a, same)
    assert len(held.ratio_changes) == 4          # 2 onnx ratios and 2 control arms
    text = held.render()
    assert "## Framework ratios (paired, per block)" in text
    changed = compare_runs(a, moved)
    onnx = [c for c in changed.ratio_changes if c.a.spec.framework == "onnx"]
    assert onnx and not any(c.inside for c in onnx)
    assert "ratios of B lie outside run A's 95% CI: the frameworks' order changed there" in \
        changed.render()
    assert sum(not c.inside for c in held.ratio_changes if c.a.spec.framework == "onnx") == 0


def test_compare_says_why_sequential_runs_ratios_are_not_compared(tmp_path):
    pts = [point(spec("pytorch"), [100.0, 102.0, 98.0], rounds=False),
           point(spec("onnx", "script"), [150.0, 153.0, 147.0], rounds=False)]
    a = write_run(tmp_path / "A", pts, dict(INFER, schedule="sequential"))
    b = write_run(tmp_path / "B", interleaved(np.random.default_rng(1), control=False,
                                              batches=(4,)))
    text = compare_runs(a, b).render()
    assert "not compared: run A has no paired ratios (no interleaved rounds)" in text
