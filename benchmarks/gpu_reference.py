"""The published GPU reference run (results/reference-<gpu>/, e.g. results/reference-h200/):
its sweeps, in the time given.

Three sweeps, each a run folder of its own with its report page, in this order:

  train-eager    seed 003's training table: the 16 models, batches 10, 20, 30, 40, SGD,
                 float32, PyTorch eager
  infer          ResNet-50, Inception-v3 and BERT-base, batches 1 to 1024, float32 and
                 bfloat16, PyTorch eager
  train-compile  the training table again under torch.compile (its compilation takes tens of
                 seconds a point: it gets what time is left, models in the table's order)

The time (`--budget-s`, else the check's DLBENCH_STEP_LIMIT_S) is shared out in that order;
a sweep that runs out of it is stopped by SIGTERM (its finished points are kept, as after
Ctrl-C) and continued by the next call (`--resume`), so the reference run can span several
GPU sessions. A stored sweep that this machine may not continue (another GPU or CPU, other
versions of Python, dlbench, numpy or torch: `suite.resume.environment_conflicts`) is
started afresh, and the page says why (git history keeps the earlier points). Afterwards
README.md in the folder says what ran, what did not fit, and which
frameworks the machine lacks and why.

    python benchmarks/gpu_reference.py results/reference-h200 --budget-s 300
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from gpu_reference_page import write_readme
from suite import storage
from suite.env import fingerprint
from suite.resume import environment_conflicts, run_frameworks

PY = sys.executable
SHARES = {"train-eager": 0.45, "infer": 0.35, "train-compile": 0.20}


def sweeps(device: str) -> dict[str, list[str]]:
    """Each sweep's command line (without --out / --resume)."""
    timing = ["--processes", "1", "--no-worker-per-point", "--min-time", "0.3",
              "--max-time", "1", "--time-cap", "2", "--min-steps", "20"]
    if device == "cpu":   # the dry run: the same commands, tiny
        small = ["--image-size", "32", "--threads", "1", "--models", "resnet18,squeezenet"]
        return {"train-eager": ["train", "--batches", "2,4", *small, *timing],
                "infer": ["infer", "--batches", "1,2", "--dtype", "float32,bfloat16",
                          "--threads", "1", "--models", "resnet18", "--image-size", "32",
                          *timing],
                "train-compile": ["train", "--opts", "compile", "--batches", "2", *small,
                                  *timing]}
    gpu = ["--device", "cuda", "--frameworks", "pytorch"]
    return {"train-eager": ["train", *gpu, "--opts", "none", "--batches", "10,20,30,40",
                            *timing],
            "infer": ["infer", *gpu, "--models", "resnet50,inception_v3,bert_base",
                      "--dtype", "float32,bfloat16", *timing],
            "train-compile": ["train", *gpu, "--opts", "compile", "--batches", "10,20,30,40",
                              "--timeout", "300", *timing]}


def why_not_continued(run_dir: Path, environment: dict) -> str | None:
    """Why the stored sweep in `run_dir` may not take points measured here (the rule of
    --resume), or None when it may."""
    info = storage.read_run_info(run_dir)
    for env in [info.environment] + [r.get("environment") or {} for r in info.resumes]:
        conflicts = environment_conflicts(env, environment, run_frameworks(info.config))
        if conflicts:
            return conflicts[0].split(";")[0]
    return None


def run_for(argv: list[str], limit_s: float) -> str:
    """Run one sweep for at most `limit_s`; past it, SIGTERM (points kept), then SIGKILL."""
    proc = subprocess.Popen(argv, start_new_session=True)
    try:
        proc.wait(timeout=max(1.0, limit_s))
        return "finished" if proc.returncode == 0 else f"exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return f"stopped after {limit_s:.0f} s (resume continues it)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--budget-s", type=float,
                   default=float(os.environ.get("DLBENCH_STEP_LIMIT_S", "600")) - 20)
    p.add_argument("--only", help="comma list of sweeps (default: all)")
    a = p.parse_args()
    start = time.monotonic()
    a.folder.mkdir(parents=True, exist_ok=True)
    chosen = {k: v for k, v in sweeps(a.device).items()
              if not a.only or k in a.only.split(",")}
    outcome: dict[str, str] = {}
    here = fingerprint()
    for k, (name, args) in enumerate(chosen.items()):
        left = a.budget_s - (time.monotonic() - start)
        later = sum(SHARES[n] for n in list(chosen)[k + 1:])
        # a sweep gets its share, plus whatever earlier sweeps left unused
        limit = left * SHARES[name] / (SHARES[name] + later) if later else left
        if limit < 20:
            outcome[name] = "not started: no time left"
            continue
        run_dir = a.folder / name
        stale = why_not_continued(run_dir, here) if (run_dir / "run.json").exists() else None
        if stale:
            shutil.rmtree(run_dir)
            print(f"{name}: started afresh: its points were measured {stale}", flush=True)
        resume = ["--resume"] if (run_dir / "run.json").exists() else []
        print(f"[{time.monotonic() - start:.0f} s] {name}: up to {limit:.0f} s", flush=True)
        outcome[name] = run_for([PY, "-m", "suite", *args, "--out", str(run_dir), *resume],
                                limit)
        if stale:
            outcome[name] = f"{outcome[name]}; started afresh (the points stored before " \
                            f"were measured {stale})"
        if (run_dir / "run.json").exists():   # a stopped sweep built no report
            subprocess.run([PY, "-m", "suite", "report", str(run_dir)],
                           stdout=subprocess.DEVNULL, timeout=300)
    write_readme(a.folder, sweeps(a.device), outcome)
    print(f"reference: {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
