"""The GPU check's steps: what each runs, on a GPU and in the CPU dry run.

Sizes on the GPU are chosen so that the check fits in about 8 minutes on an H200 (issue:
"GPU check script ... under 9 minutes"); on the CPU everything shrinks to seconds.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
MODELS_SWEEP = "resnet50,bert_base"


@dataclass(frozen=True)
class Step:
    name: str
    argv: list[str]
    timeout_s: float
    min_s: float = 10.0                      # not started with less time left than this
    env: dict[str, str] = field(default_factory=dict)


def gpu_test_files() -> list[str]:
    """The test files that hold GPU-marked tests (collecting the others would import
    frameworks the GPU machine lacks)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                  if "mark.gpu" in p.read_text())


def _sweep(task: str, out: Path, *args: str) -> list[str]:
    return [PY, "-m", "suite", task, "--frameworks", "pytorch", "--processes", "1",
            "--out", str(out), *args]


def _gpu_sweeps(work: Path) -> list[Step]:
    quick = ["--min-time", "0.3", "--max-time", "1", "--time-cap", "2", "--min-steps", "20"]
    return [
        Step("sweep", _sweep("infer", work / "sweep", "--device", "cuda", "--opts",
                             "none,script", "--dtype", "float32,bfloat16", "--models",
                             MODELS_SWEEP, "--batches", "1,16,256", "--no-worker-per-point",
                             *quick), 150, 30),
        Step("sweep-compile", _sweep("infer", work / "sweep-compile", "--device", "cuda",
                                     "--opts", "compile", "--dtype", "float32,bfloat16",
                                     "--models", "resnet50", "--batches", "16",
                                     "--no-worker-per-point", "--timeout", "240", *quick),
             200, 60),
        # 8192 images of ResNet-50 training need several times the H200's 141 GB: the
        # point is `oom`, 16384 is recorded as oom without running, SqueezeNet goes on.
        Step("oom", _sweep("train", work / "oom", "--device", "cuda", "--models",
                           "resnet50,squeezenet", "--batches", "16,8192,16384",
                           "--min-time", "0.2", "--max-time", "0.5", "--min-steps", "10"),
             120, 30),
    ]


def _cpu_sweeps(work: Path) -> list[Step]:
    quick = ["--image-size", "32", "--threads", "1", "--min-time", "0.1", "--max-time",
             "0.3", "--time-cap", "0.6", "--min-steps", "10"]
    return [
        Step("sweep", _sweep("infer", work / "sweep", "--device", "cpu", "--opts",
                             "none,script", "--dtype", "float32,bfloat16", "--models",
                             "resnet18", "--batches", "1,2", "--no-worker-per-point",
                             *quick), 150, 10),
        Step("sweep-compile", _sweep("infer", work / "sweep-compile", "--device", "cpu",
                                     "--opts", "compile", "--models", "resnet18",
                                     "--batches", "2", *quick), 300, 10),
        # No GPU to exhaust: the worker's test hook grows its memory past --memory-limit.
        Step("oom", _sweep("train", work / "oom", "--device", "cpu", "--models",
                           "resnet18,squeezenet", "--batches", "2,8,16",
                           "--memory-limit", "1500", "--no-worker-per-point", *quick),
             120, 10, env={"DLBENCH_FAULT": "alloc@resnet18:8"}),
    ]


def plan_steps(device: str, work: Path, reference: Path, budget_s: float,
               reference_sweeps: str = "train-eager,infer,train-compile") -> list[Step]:
    """Every step of the check, in the order they run (most telling first)."""
    cuda = device == "cuda"
    probe = [PY, str(ROOT / "benchmarks" / "gpu_probes.py")]
    dev = ["--device", device]
    env_cmd = "nvidia-smi; " if cuda else ""
    steps = [
        Step("env", ["bash", "-c", f"{env_cmd}{PY} -m suite env"], 90),
        Step("gpu-tests", [PY, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", "-q",
                           "-rA", *gpu_test_files()], 150, 20),
        Step("events", probe + ["events", *dev], 60),
        Step("sampler-nvml", probe + ["sampler-nvml", *dev], 60),
        Step("sampler-cost", probe + ["sampler-cost", *dev] +
             (["--intervals", "1000,10000,50000", "--rounds", "6"] if cuda
              else ["--intervals", "1000,100000", "--rounds", "2"]), 120, 20),
        Step("peak", [PY, "-m", "suite.gpu_peak"], 60),
    ]
    steps += _gpu_sweeps(work) if cuda else _cpu_sweeps(work)
    parity = [PY, str(ROOT / "benchmarks" / "gpu_parity.py"), "--out", str(work / "parity"),
              *dev] + ([] if cuda else ["--size", "32", "--batch", "2", "--seconds", "0.2",
                                        "--processes", "1", "--min-steps", "5",
                                        "--no-bracket"])
    steps.append(Step("parity", parity, 180, 40))
    steps.append(Step("reference", [PY, str(ROOT / "benchmarks" / "gpu_reference.py"),
                                    str(reference), *dev, "--only", reference_sweeps],
                          budget_s, 30))
    return steps
