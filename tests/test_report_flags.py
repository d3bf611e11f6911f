"""An imported model's framework that does not compute the file's function (issue "Your
own model", item 4): its points are kept and every table marks them (≠), with a line that
says why; points.csv and ratios.csv carry the flag."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from suite.report import build_report_with_summary
from suite.report.flags import FLAG_COLUMN, MARK, flag_lines, run_flags, with_flags
from suite.storage import RunInfo, append_measurement, write_run_info
from test_ratios import point, spec
from test_report_ratios import ENV, INFER

MODEL = "resnet18"      # the points' model; the equivalence record makes it "imported"
RECORD = {"file": "/models/resnet18.onnx", "tolerance": 1e-4, "summary": "differs",
          "checks": [{"framework": "onnx", "optimization": "script", "status": "differs",
                      "max_rel_err": 3e-2, "message": ""},
                     {"framework": "pytorch", "optimization": "none", "status": "same",
                      "max_rel_err": 2e-6, "message": ""}]}
REASON = "differs from resnet18.onnx: max relative error 3e-2 > 1e-4"


def train_points(rng: np.random.Generator, rounds: int = 6) -> list:
    """Per batch size a block of pytorch (eager) and onnx (1.5x as fast), six rounds."""
    pts = []
    for b in (1, 4):
        speed = 100.0 * (1 - 0.1 * rng.random(rounds))
        for fw, opt, f in (("pytorch", "none", 1.0), ("onnx", "script", 1.5)):
            s = replace(spec(fw, opt, batch_size=b, model=MODEL), task="train")
            pts.append(point(s, list(speed * f * (1 + 0.003 * rng.standard_normal(rounds))),
                             rng=rng, step_noise=0.01))
    return pts


@pytest.fixture(scope="module")
def flagged_report(tmp_path_factory):
    run = tmp_path_factory.mktemp("flags") / "run"
    config = dict(INFER, task="train", control="none")
    write_run_info(run, RunInfo(run_id="flags", task="train", command=["dlbench"],
                                config=config, environment=ENV,
                                started_at="2026-01-01T12:00:00",
                                equivalence={MODEL: RECORD}))
    for m in train_points(np.random.default_rng(3)):
        append_measurement(run, m)
    index, headline = build_report_with_summary(run)
    return run, index.read_text(), headline


def test_run_flags_name_only_the_framework_beyond_tolerance():
    assert run_flags({MODEL: RECORD, "broken": "not a record"}) == \
        {(MODEL, "onnx", "script"): REASON}
    frame = pd.DataFrame({"model": [MODEL, MODEL, "vgg16"], "framework": ["onnx", "pytorch",
                                                                          "onnx"],
                          "optimization": ["script", "none", "script"]})
    flagged = with_flags(frame, run_flags({MODEL: RECORD}))
    assert flagged[FLAG_COLUMN].tolist() == [REASON, "", ""]
    assert flag_lines(flagged) == [f"{MARK} {MODEL}, onnx (script): {REASON}; its figures are "
                                   "shown but do not measure the same function"]
    assert flag_lines(frame) == [] and with_flags(frame.iloc[:0], {}).empty


def test_every_table_marks_the_flagged_points_and_keeps_them(flagged_report):
    run, text, headline = flagged_report
    speed = text.split("## ")[1:]
    onnx_tables = [t for t in speed if "framework: onnx, optimization" in t]
    assert onnx_tables, "no onnx training table"
    for t in onnx_tables:       # its speed and memory tables: every measured cell marked
        rows = [line for line in t.splitlines() if line.startswith("|ResNet-18")]
        assert rows and all(MARK in r for r in rows), t
        assert f"{MARK} {MODEL}, onnx (script): {REASON}" in t
    pytorch_tables = [t for t in speed if "framework: pytorch, optimization" in t]
    assert pytorch_tables
    for t in pytorch_tables:    # the framework that computes the function: no mark
        rows = [line for line in t.splitlines() if line.startswith("|ResNet-18")]
        assert rows and not any(MARK in r for r in rows) and "its figures" not in t, t
    cross = text.split("Frameworks compared", 1)[1]
    assert f"{MARK} {MODEL}, onnx (script)" in cross
    ratios = text.split("# Ratios")[1].split("\n# ")[0]
    rows = [line for line in ratios.splitlines() if line.startswith("|ResNet-18")]
    assert len(rows) == 2 and all(MARK in r for r in rows), rows
    assert "its ratios are shown but do not compare the same function" in ratios
    compared = next(s.lines for s in headline if s.title == "Frameworks compared")
    assert any(MARK in line for line in compared[1:3]), compared
    own = next(s.lines for s in headline if s.title == "Your own models")
    assert any(line.startswith(f"FLAGGED {MODEL}, onnx (script)") for line in own)


def test_the_csv_files_carry_the_flag(flagged_report):
    run, _, _ = flagged_report
    points = pd.read_csv(run / "points.csv", keep_default_na=False)
    assert len(points) == 4 and points["status"].eq("ok").all()     # kept, all measured
    by_fw = points.groupby("framework")[FLAG_COLUMN].agg(set).to_dict()
    assert by_fw == {"onnx": {REASON}, "pytorch": {""}}
    ratios = pd.read_csv(run / "ratios.csv", keep_default_na=False)
    onnx = ratios[ratios["framework"] == "onnx"]
    assert len(onnx) == 2 and onnx["verdict"].str.endswith(MARK).all()
