"""The whole GPU check in one run: every step timed, logged, allowed to fail alone.

Called by scripts/device-check.sh after it installed the project (see there). Each step is
a child process with a time limit taken from one overall budget (`--budget-s`), so the check
ends, and packs its files, however the steps fare. Written to OUT (at most 8 files, as the
device tool brings back):

  check.log         the console of the check: one block per step, then the figures
  check.json        every step's status, seconds and parsed result
  check-runs.tar.gz the run folders of the sweeps and every step's full log
  reference-<gpu>.tar.gz  the reference run (`--steps reference`) in
                    results/reference-<gpu>/ (reference-h200 on an H200), resumable: unpack
                    it into the repository and the next check on that GPU continues it

`--device cpu` runs the same steps on the CPU at tiny sizes (what needs a GPU says why it
was skipped; its reference run goes into check-runs, never into results/): the dry run
that proves the script before GPU minutes are spent on it
(tests/test_gpu_check.py). `--plan` prints the steps and their commands only.

    scripts/device-check.sh "$OUT"                        # on the GPU machine
    python benchmarks/gpu_check.py /tmp/check --device cpu --budget-s 300
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gpu_plan import Step, plan_steps  # noqa: E402
from gpu_figures import figures_text  # noqa: E402


@dataclass
class Outcome:
    """What one step did."""

    name: str
    status: str                 # ok | failed | timeout | skipped
    seconds: float = 0.0
    returncode: int | None = None
    result: Any = None          # the step's last JSON line, where it printed one
    note: str = ""
    tail: list[str] = field(default_factory=list)


def last_json(text: str) -> Any:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_step(step: Step, work: Path, left_s: float) -> Outcome:
    """Run one step with its limit cut to the time left; its output goes to work/<name>.log."""
    if left_s < step.min_s:
        return Outcome(step.name, "skipped", note=f"no time left ({left_s:.0f} s < "
                                                   f"{step.min_s:.0f} s needed)")
    limit = min(step.timeout_s, left_s)
    log = work / f"{step.name}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", DLBENCH_STEP_LIMIT_S=f"{limit:.0f}",
               **step.env)
    start = time.monotonic()
    with open(log, "w") as f:
        f.write("$ " + " ".join(step.argv) + "\n")
        f.flush()
        try:
            proc = subprocess.run(step.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=limit,
                                  start_new_session=True)
            text, code = proc.stdout, proc.returncode
            status = "ok" if code == 0 else "failed"
        except subprocess.TimeoutExpired as e:
            raw = e.stdout or b""
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            code, status = None, "timeout"
        f.write(text)
    seconds = time.monotonic() - start
    result = last_json(text)
    if status == "ok" and isinstance(result, dict) and result.get("pass") is False:
        status = "failed"
    note = f"limit {limit:.0f} s" if status == "timeout" else ""
    return Outcome(step.name, status, seconds, code, result, note,
                   tail=text.strip().splitlines()[-15:])


def write_summary(out: Path, outcomes: list[Outcome], header: list[str]) -> None:
    """check.log and check.json, rewritten after every step (a killed check keeps them)."""
    lines = list(header)
    for o in outcomes:
        lines.append(f"\n== {o.name}: {o.status} in {o.seconds:.1f} s"
                     + (f" (exit {o.returncode})" if o.returncode not in (0, None) else "")
                     + (f" - {o.note}" if o.note else ""))
        if o.result is not None:
            lines.append(json.dumps(o.result, default=str)[:3000])
        if o.status != "ok" or o.result is None:
            lines.extend("   | " + t for t in o.tail)
    (out / "check.log").write_text("\n".join(lines) + "\n")
    (out / "check.json").write_text(json.dumps(
        [o.__dict__ for o in outcomes], indent=1, default=str))


def reference_folder(gpu_names: list[str]) -> Path:
    """results/reference-<gpu>: the GPU's model from its name ("NVIDIA H200" -> h200,
    "NVIDIA A100-SXM4-80GB" -> a100), so that a run on another GPU never continues
    (`--resume`) the reference of this one."""
    name = (gpu_names[0] if gpu_names else "").replace("NVIDIA", "")
    model = re.search(r"[A-Za-z]+\d+", name)
    slug = model.group(0) if model else re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    return ROOT / "results" / f"reference-{(slug or 'gpu').lower()}"


def pack(out: Path, work: Path, reference: Path | None) -> None:
    """The run folders and logs as one tarball; a reference run under the repository as
    another, with its path from the repository's root."""
    with tarfile.open(out / "check-runs.tar.gz", "w:gz") as tar:
        tar.add(work, arcname="check-runs")
    shutil.rmtree(work, ignore_errors=True)
    if reference is not None and reference.exists() and reference.is_relative_to(ROOT):
        with tarfile.open(out / f"{reference.name}.tar.gz", "w:gz") as tar:
            tar.add(reference, arcname=str(reference.relative_to(ROOT)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="output folder (the device tool's $OUT)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="the whole check's time; steps get what is left (default 480)")
    p.add_argument("--steps", help="comma list of steps to run (default: all but reference)")
    p.add_argument("--reference-dir", type=Path,
                   help="the reference run's folder (default: results/reference-<gpu> on a "
                        "GPU, check-runs/reference in the CPU dry run)")
    p.add_argument("--reference-sweeps", default="train-eager,infer,train-compile",
                   help="the reference run's sweeps, in order (benchmarks/gpu_reference.py)")
    p.add_argument("--plan", action="store_true", help="print the steps and stop")
    a = p.parse_args()
    start = time.monotonic()
    out = a.out.resolve()
    work = out / "check-runs"
    if a.reference_dir is None:
        from suite.env import gpu_info
        a.reference_dir = reference_folder([str(g.get("name") or "") for g in gpu_info()]) \
            if a.device == "cuda" else work / "reference"
    steps = plan_steps(a.device, work, a.reference_dir.resolve(), a.budget_s,
                       a.reference_sweeps)
    names = [s.name for s in steps]
    chosen = a.steps.split(",") if a.steps else [s for s in names if s != "reference"]
    unknown = [c for c in chosen if c not in names]
    if unknown:
        print(f"gpu_check: unknown steps {', '.join(unknown)}; valid: {', '.join(names)}",
              file=sys.stderr)
        return 2
    steps = [s for s in steps if s.name in chosen]
    if a.plan:
        for s in steps:
            print(f"{s.name:<14} <= {s.timeout_s:>4.0f} s  {' '.join(s.argv)}")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    header = [f"GPU check, device {a.device}, budget {a.budget_s:.0f} s, "
              f"started {time.strftime('%Y-%m-%d %H:%M:%S')}, steps {', '.join(chosen)}"]
    outcomes: list[Outcome] = []
    for step in steps:
        left = a.budget_s - (time.monotonic() - start) - 10.0   # 10 s kept for packing
        print(f"[{time.monotonic() - start:6.1f} s] {step.name} ...", flush=True)
        outcome = run_step(step, work, left)
        outcomes.append(outcome)
        print(f"[{time.monotonic() - start:6.1f} s] {step.name}: {outcome.status} "
              f"({outcome.seconds:.1f} s) {outcome.note}", flush=True)
        write_summary(out, outcomes, header)
    figures = figures_text(work, {o.name: o.result for o in outcomes})
    write_summary(out, outcomes, header + ["", figures])
    print(figures, flush=True)
    pack(out, work, a.reference_dir.resolve() if "reference" in chosen else None)
    failed = [o.name for o in outcomes if o.status in ("failed", "timeout")]
    print(f"done in {time.monotonic() - start:.0f} s; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
