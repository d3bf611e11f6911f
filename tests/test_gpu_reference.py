"""The GPU reference folder's README (benchmarks/gpu_reference_page.py): what ran, what did not
fit and must be continued with --resume, and which frameworks the GPU machine lacks and why.
Its run is measured on a GPU only; the page is checked here on stored run folders."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import gpu_reference_page as page  # noqa: E402

CONFIG = {"task": "infer", "frameworks": ["pytorch"], "optimizations": {"pytorch": ["none"]},
          "models": ["resnet18", "squeezenet"], "batches": [2, 4],
          "dtypes": ["float32", "bfloat16"]}
ENV = {"gpus": [{"name": "NVIDIA H200"}], "cpu_model": "Xeon", "versions": {"torch": "2.11.0"}}


def point(model: str, batch: int, dtype: str, status: str = "ok") -> Measurement:
    spec = PointSpec(task="infer", framework="pytorch", optimization="none", model=model,
                     batch_size=batch, input_size=224, threads=8, device="cuda", dtype=dtype)
    return Measurement(spec, samples_ns=[1_000_000] * 5, items_per_step=batch, status=status)


def run_folder(path: Path, points: list[Measurement]) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task="infer", command=["infer"],
                                 config=dict(CONFIG), environment=ENV,
                                 started_at="2026-12-06T00:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


@pytest.fixture
def statuses(monkeypatch):
    probed = {"pytorch": {"ok": True, "version": "2.11.0", "devices": ["cpu", "cuda"]},
              "mxnet": {"ok": False, "reason": "No module named 'mxnet'"},
              "tensorflow": {"ok": False, "reason": "No module named 'tensorflow'"},
              "onnx": {"ok": True, "version": "1.30.0", "devices": ["cpu"],
                       "device_reason": "onnxruntime has no CUDAExecutionProvider here"}}
    monkeypatch.setattr(page, "framework_status", lambda name: probed[name])


def test_the_points_left_are_those_planned_and_not_stored_whatever_their_status(tmp_path):
    run = run_folder(tmp_path / "infer", [point("resnet18", 2, "float32"),
                                          point("resnet18", 4, "float32", status="oom")])
    lines = page.sweep_section("infer", run, ["infer", "--device", "cuda"], "finished")
    text = "\n".join(lines)
    assert "Points stored: 1 ok, 1 oom." in text
    assert "Did not fit in the GPU time (6 points;" in text
    assert "- resnet18 (none, bfloat16): batches 2, 4" in lines
    assert "- squeezenet (none, float32): batches 2, 4" in lines
    assert "- squeezenet (none, bfloat16): batches 2, 4" in lines
    assert not any(line.startswith("- resnet18 (none, float32)") for line in lines)


def test_a_complete_sweep_lists_nothing_left(tmp_path):
    done = [point(m, b, d) for m in CONFIG["models"] for b in CONFIG["batches"]
            for d in CONFIG["dtypes"]]
    text = "\n".join(page.sweep_section("infer", run_folder(tmp_path / "infer", done),
                                        ["infer"], "finished"))
    assert "Points stored: 8 ok." in text and "Did not fit" not in text


def test_the_page_names_the_machine_the_sweeps_not_started_and_what_it_lacks(tmp_path,
                                                                            statuses):
    run_folder(tmp_path / "infer", [point("resnet18", 2, "float32")])
    page.write_readme(tmp_path, {"infer": ["infer"], "train-compile": ["train"]},
                      {"infer": "stopped after 49 s (resume continues it)"})
    text = (tmp_path / "README.md").read_text()
    assert "Machine: NVIDIA H200, Xeon;" in text
    assert "`python -m suite infer` — stopped after 49 s (resume continues it)" in text
    assert "`python -m suite train` — not run\n\nNot started: no GPU time was left" in text
    lacking = text.split("## Frameworks this machine cannot run on its GPU")[1]
    assert "pytorch" not in lacking
    assert "- mxnet: not installed here (No module named 'mxnet')" in lacking
    assert "- onnx 1.30.0: installed, but not for the GPU (onnxruntime has no " \
           "CUDAExecutionProvider here)" in lacking
