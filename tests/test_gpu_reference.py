"""The GPU reference run (benchmarks/gpu_reference.py, gpu_reference_page.py, gpu_check.py):
its folder named after the GPU, a stored sweep continued only on the machine and software
it was measured with, and its README (what ran, what did not fit and must be continued
with --resume, which frameworks the GPU machine lacks and why). The run itself needs a
GPU; these checks run on stored run folders."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import gpu_check  # noqa: E402
import gpu_reference  # noqa: E402
import gpu_reference_page as page  # noqa: E402

CONFIG = {"task": "infer", "frameworks": ["pytorch"], "optimizations": {"pytorch": ["none"]},
          "models": ["resnet18", "squeezenet"], "batches": [2, 4],
          "dtypes": ["float32", "bfloat16"]}
ENV = {"gpus": [{"name": "NVIDIA H200"}], "cpu_model": "Xeon",
       "versions": {"python": "3.12.3", "torch": "2.11.0", "onnxruntime": "1.30.0"}}


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


@pytest.mark.parametrize("names, folder", [
    (["NVIDIA H200"], "reference-h200"), (["NVIDIA H100 80GB HBM3"], "reference-h100"),
    (["NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB"], "reference-a100"),
    (["NVIDIA L4"], "reference-l4"), (["NVIDIA GeForce RTX 4090"],
                                      "reference-geforce-rtx-4090"),
    ([], "reference-gpu")])
def test_the_reference_folder_is_named_after_the_gpu(names, folder):
    assert gpu_check.reference_folder(names) == gpu_check.ROOT / "results" / folder


def test_the_cpu_dry_run_never_writes_the_reference_into_results(tmp_path):
    out = subprocess.run([sys.executable, str(Path(gpu_check.__file__)), str(tmp_path),
                          "--device", "cpu", "--plan", "--steps", "reference"],
                         capture_output=True, text=True, check=True).stdout
    assert f"gpu_reference.py {tmp_path / 'check-runs' / 'reference'} --device cpu" in out


def test_a_stored_sweep_is_continued_only_on_its_machine_and_software(tmp_path):
    run = run_folder(tmp_path / "infer", [point("resnet18", 2, "float32")])
    assert gpu_reference.why_not_continued(run, dict(ENV, hostname="other")) is None
    newer_ort = dict(ENV, versions=dict(ENV["versions"], onnxruntime="1.32.0"))
    assert gpu_reference.why_not_continued(run, newer_ort) is None    # not a pytorch package
    newer_torch = dict(ENV, versions=dict(ENV["versions"], torch="2.12.0"))
    assert gpu_reference.why_not_continued(run, newer_torch) == \
        "with torch 2.11.0, this environment has torch 2.12.0"
    h100 = dict(ENV, gpus=[{"name": "NVIDIA H100 80GB HBM3"}])
    assert gpu_reference.why_not_continued(run, h100) == \
        'on gpus ["NVIDIA H200"], this machine has ["NVIDIA H100 80GB HBM3"]'
