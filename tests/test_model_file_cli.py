"""`--model-file` through the CLI: the user's ONNX model imported, checked against the file
before timing (run.json and the report), measured like a zoo model; `models --model-file`;
bad files and names are one line and exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


def _export(path):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.Hardswish(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.ReLU6(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    torch.onnx.export(net, torch.randn(1, 3, 16, 16), str(path), dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}})
    return path


def dlbench(*args):
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_a_model_file_is_checked_then_measured_and_reported(tmp_path):
    onnx_file = _export(tmp_path / "tiny.onnx")
    listed = dlbench("models", "--model-file", str(onnx_file), "--model-name", "mine")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("mine: ") and "parameters" in listed.stdout
    out = tmp_path / "run"
    r = dlbench("infer", "--model-file", str(onnx_file), "--frameworks", "pytorch,onnx",
                "--batches", "2", "--threads", "1", "--processes", "1", "--min-time", "0.05",
                "--max-time", "0.2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    record = json.loads((out / "run.json").read_text())["equivalence"]["tiny"]
    assert record["summary"].startswith("same function: max relative error")
    assert {c["framework"] for c in record["checks"]} == {"pytorch", "onnx"}
    points = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    assert {p["spec"]["model"] for p in points} == {"tiny"}
    assert all(p["status"] == "ok" for p in points), [p["message"] for p in points]
    assert "tiny (tiny.onnx): same function" in (out / "index.md").read_text()


@pytest.mark.parametrize("args, expected", [
    (["--model-file", "/nonexistent/x.onnx"], "model file /nonexistent/x.onnx: no such file"),
    (["--model-name", "a"], "1 --model-name values for 0 --model-file"),
])
def test_bad_model_files_are_one_line_and_exit_2(args, expected):
    r = dlbench("models", *args)
    assert r.returncode == 2 and expected in r.stderr and len(r.stderr.strip().splitlines()) == 1
