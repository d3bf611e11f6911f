"""Equivalence before timing: an imported model in each framework against ONNX Runtime
running the original file.

The probe is PROBE_ITEMS standard-normal images drawn from PROBE_SEED by the worker's own
`suite.worker.synthetic_inputs` (or as many as the file's fixed batch). ONNX Runtime runs
the original file with graph optimizations disabled (the file as written, op by op); each
framework builds the imported description with the file's weights in its own worker
process (`python -m suite.equivalence_worker`, one per framework, for every
optimization asked of it), runs one inference step and hands back its output. Agreement
is max|out - ref| / max|ref| over the whole output tensor, float32, within TOLERANCE = 1e-4
(as tests/test_equivalence.py; the zoo's five torchvision-layout networks, exported by
PyTorch and imported back, measure 2e-6 to 9e-6 against PyTorch in the other three
frameworks). `check_model` returns the record for run.json; `flag` says, per (framework,
optimization), what tables mark.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from suite.errors import UsageError

TOLERANCE = 1e-4
PROBE_SEED = 1729
PROBE_ITEMS = 2
SCHEMA = 1
METRIC = "max|out - ref| / max|ref| over the whole output (float32)"


@dataclass(frozen=True)
class Check:
    """One framework and optimization against the file: "same", "differs", "failed" (no
    output to compare: its build or step failed) or "skipped" (unavailable here)."""

    framework: str
    optimization: str
    status: str
    max_rel_err: float | None = None
    message: str = ""


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    """max|out - ref| / max|ref| (one figure for the whole tensor)."""
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(out - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def judge(framework: str, optimization: str, out: np.ndarray, ref: np.ndarray,
          tolerance: float = TOLERANCE) -> Check:
    """The check of one output against the reference."""
    if out.shape != ref.shape:
        return Check(framework, optimization, "differs", None,
                     f"output shape {out.shape} differs from the file's {ref.shape}")
    if not np.all(np.isfinite(out)):
        return Check(framework, optimization, "differs", None, "non-finite outputs")
    err = relative_error(out, ref)
    return Check(framework, optimization, "same" if err <= tolerance else "differs", err)


def sci(value: float) -> str:
    """3e-6, 1.2e-4: the shortest scientific form for a table or a summary line."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def summary_line(checks: Sequence[Check], tolerance: float = TOLERANCE) -> str:
    """"same function: max relative error 3e-6 across 4 frameworks", or what differs."""
    same = [c for c in checks if c.status == "same"]
    differs = [c for c in checks if c.status == "differs"]
    failed = [c for c in checks if c.status == "failed"]
    parts = []
    if differs:
        parts.append("differs from the file: " + ", ".join(
            f"{c.framework} ({c.optimization}) "
            + (f"max relative error {sci(c.max_rel_err)} > {sci(tolerance)}"
               if c.max_rel_err is not None else c.message) for c in differs))
    if same:
        frameworks = len({c.framework for c in same})
        worst = max(c.max_rel_err or 0.0 for c in same)
        parts.append(f"same function: max relative error {sci(worst)} across {frameworks} "
                     f"framework{'s' if frameworks != 1 else ''}")
    if failed:
        parts.append("not checked: " + ", ".join(
            f"{c.framework} ({c.optimization}: {c.message})" for c in failed))
    return "; ".join(parts) or "no framework checked"


def input_spread(ref: np.ndarray) -> float | None:
    """How much the file's outputs depend on the input: the largest difference between the
    probe items' outputs over the largest output (None with one item, 0 for constant
    outputs, inf where every output is 0)."""
    ref = np.asarray(ref, np.float64)
    if ref.ndim == 0 or ref.shape[0] < 2:
        return None
    scale = float(np.abs(ref).max())
    diff = float(np.abs(ref - ref[:1]).max())
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def spread_warning(spread: float | None, tolerance: float = TOLERANCE) -> str | None:
    """The summary's warning when the file's outputs vary with the input by less than 10x
    the tolerance: then a constant would pass, and the check cannot tell functions apart."""
    if spread is None or spread >= 10 * tolerance:
        return None
    return (f"warning: the file's outputs barely depend on the input (relative spread "
            f"{sci(spread)} between the probe's images, tolerance {sci(tolerance)}), so this "
            "check cannot tell functions apart (untrained weights? a saturated softmax?)")


def equivalence_record(found: Any, checks: Sequence[Check], items: int, reference: str,
                       tolerance: float = TOLERANCE,
                       spread: float | None = None) -> dict[str, Any]:
    """The run.json record of one imported model's check; `spread`: `input_spread` of the
    file's outputs on the probe."""
    errors = [c.max_rel_err for c in checks if c.max_rel_err is not None]
    warning = spread_warning(spread, tolerance)
    return {
        "schema": SCHEMA, "model": found.name, "file": found.path, "sha256": found.sha256,
        "opset": found.opset,
        "probe": {"items": items, "seed": PROBE_SEED, "distribution": "standard normal",
                  "input_shape": list(found.model.inputs[0].shape)},
        "reference": reference, "metric": METRIC, "tolerance": tolerance,
        "checks": [asdict(c) for c in checks],
        "max_rel_err": max(errors) if errors else None,
        "input_spread": spread,
        "summary": summary_line(checks, tolerance) + (f"; {warning}" if warning else ""),
    }


def flag(record: dict[str, Any], framework: str, optimization: str) -> str | None:
    """What tables mark on this model's points of `framework` / `optimization`: None when
    it computes the file's function (or was not part of the check)."""
    for c in record.get("checks", ()):
        if (c["framework"], c["optimization"]) != (framework, optimization):
            continue
        if c["status"] == "differs":
            err = c["max_rel_err"]
            detail = f"max relative error {sci(err)} > {sci(record['tolerance'])}" \
                if err is not None else c["message"]
            return f"differs from {os.path.basename(record['file'])}: {detail}"
        if c["status"] == "failed":
            return f"equivalence not verified: {c['message']}"
    return None


# ------------------------------------------------------------------ running the check

def check_model(name: str, combos: Sequence[tuple[str, str]], threads: int = 0,
                timeout_s: float = 600.0, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Check the imported model `name` in each (framework, optimization) of `combos`, one
    worker process per framework; the record for run.json."""
    from suite.models import imported
    found = imported.lookup(name)
    if found is None:
        raise UsageError(f"{name}: not an imported model (equivalence is checked for "
                         "--model-file models)")
    items = found.batch or PROBE_ITEMS
    base = {"name": name, "path": found.path, "items": items, "threads": threads}
    by_framework: dict[str, list[str]] = {}
    for framework, optimization in combos:
        by_framework.setdefault(framework, []).append(optimization)
    with tempfile.TemporaryDirectory(prefix="dlbench-equivalence-") as tmp:
        ref = _worker(dict(base, role="reference"), tmp, timeout_s)
        checks = []
        for framework, opts in by_framework.items():
            got = _worker(dict(base, role="framework", framework=framework, optimizations=opts),
                          tmp, timeout_s)
            for opt in opts:
                checks.append(_check(framework, opt, got, ref, tolerance))
        spread = input_spread(np.load(ref["output"])) if "output" in ref else None
    reference = ref.get("reference", "onnxruntime on the original file")
    return equivalence_record(found, checks, items, reference, tolerance, spread)


def _check(framework: str, opt: str, got: dict[str, Any], ref: dict[str, Any],
           tolerance: float) -> Check:
    if "error" in ref:
        return Check(framework, opt, "failed", None, f"ONNX Runtime on the file: {ref['error']}")
    result = got.get("results", {}).get(opt, {"status": "failed", "message": got.get("error")})
    if result["status"] != "ok":
        return Check(framework, opt, result["status"], None, result.get("message") or "")
    return judge(framework, opt, np.load(result["output"]), np.load(ref["output"]), tolerance)


def _worker(request: dict[str, Any], tmp: str, timeout_s: float) -> dict[str, Any]:
    """Run one worker process on `request`; its reply (with "error" when it died)."""
    tag = request.get("framework", "reference")
    request = dict(request, dir=tmp, reply=os.path.join(tmp, f"{tag}.json"))
    try:
        proc = subprocess.run([sys.executable, "-m", "suite.equivalence_worker"],
                              input=json.dumps(request), capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if os.path.exists(request["reply"]):
        with open(request["reply"]) as f:
            return json.load(f)
    last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return {"error": f"worker died: {last}"[:300]}


def check_run_models(names: Sequence[str], specs: Sequence[Any],
                     threads: int = 0) -> dict[str, dict[str, Any]]:
    """Before a sweep's timing (CONTRACT §16): each imported model of `names` checked in
    every (framework, optimization) the sweep's `specs` run it in; records by name."""
    return {name: check_model(name, sorted({(s.framework, s.optimization) for s in specs
                                            if s.model == name}), threads=threads)
            for name in names}


def report_lines(records: dict[str, dict[str, Any]]) -> list[str]:
    """The report's lines for a run's imported models: each one's summary, then every
    framework and optimization that does not compute the file's function (its points are
    kept, and marked by this line wherever the model's figures are shown)."""
    lines = []
    for name, record in records.items():
        lines.append(f"{name} ({os.path.basename(record.get('file', ''))}): "
                     f"{record.get('summary', 'not checked')}")
        for c in record.get("checks", ()):
            mark = flag(record, c["framework"], c["optimization"])
            if mark:
                lines.append(f"FLAGGED {name}, {c['framework']} ({c['optimization']}): {mark}; "
                             "its points are shown but do not measure the same function")
    return lines
