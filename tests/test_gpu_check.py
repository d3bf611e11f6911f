"""The GPU check script (scripts/device-check.sh -> benchmarks/gpu_check.py), dry-run on the
CPU: every step's command runs at tiny sizes, so the GPU minutes go to measuring, not to
debugging the script."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "benchmarks" / "gpu_check.py"
STEPS = "events,sampler-nvml,sampler-cost,peak,sweep,oom,parity"


def test_the_gpu_plan_sweeps_the_gpu_and_names_every_step():
    out = subprocess.run([sys.executable, str(CHECK), "/tmp/unused", "--plan",
                          "--steps", "env,gpu-tests,sweep,sweep-compile,oom,reference"],
                         capture_output=True, text=True, check=True).stdout
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert list(lines) == ["env", "gpu-tests", "sweep", "sweep-compile", "oom", "reference"]
    for name in ("sweep", "sweep-compile", "oom"):
        assert "--device cuda" in lines[name]
    assert "-m gpu" in lines["gpu-tests"] and "tests/test_gpu_pytorch.py" in lines["gpu-tests"]
    assert "nvidia-smi" in lines["env"]


def test_an_unknown_step_is_one_line_and_exit_2():
    out = subprocess.run([sys.executable, str(CHECK), "/tmp/unused", "--steps", "evnts"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown steps evnts; valid: env," in out.stderr


@pytest.mark.slow
def test_the_cpu_dry_run_runs_every_step_and_packs_at_most_8_files(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(CHECK), str(out), "--device", "cpu",
                           "--budget-s", "400", "--steps", STEPS],
                          capture_output=True, text=True, timeout=600)
    outcomes = {o["name"]: o for o in json.loads((out / "check.json").read_text())}
    assert list(outcomes) == STEPS.split(","), proc.stdout
    for name, o in outcomes.items():
        assert o["status"] != "timeout", (name, o["tail"])
    assert outcomes["events"]["result"]["status"] == "skipped"
    assert "CUDA not available" in outcomes["events"]["result"]["reason"]
    assert outcomes["sampler-nvml"]["result"]["pass"] is True
    assert {r["interval_us"] for r in outcomes["sampler-cost"]["result"]["rows"]} == \
        {1000, 100000}
    assert "CUDA not available" in json.dumps(outcomes["peak"]["result"])
    for name in ("sweep", "oom"):
        assert outcomes[name]["status"] == "ok", outcomes[name]["tail"]
    parity = outcomes["parity"]["result"]
    assert not parity["errors"] and {r["task"] for r in parity["rows"]} == {"infer", "train"}
    # a dry run's ratios at tiny sizes get no verdict, so they cannot fail the check
    assert parity["pass"] is None and outcomes["parity"]["status"] == "ok"
    assert all(r["latency_ratio"] > 0 for r in parity["rows"])
    files = sorted(p.name for p in out.iterdir())
    assert files == ["check-runs.tar.gz", "check.json", "check.log"]
    log = (out / "check.log").read_text()
    assert "oom - host memory limit exceeded" in log and "already ran out of memory" in log
    assert "infer resnet18 script bfloat16 bs2" in log         # the dtype list was swept
    with tarfile.open(out / "check-runs.tar.gz") as tar:
        names = tar.getnames()
    assert "check-runs/sweep/points.jsonl" in names and "check-runs/parity.log" in names
