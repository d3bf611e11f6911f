"""From what a profiler saw to a point's profile record, and that record as CSV rows: pure
arithmetic, no framework, no files.

A profile record (`Measurement.profile`, points.jsonl) is either
`{"status": "unavailable", "reason": ...}` or, for a profiled point:
- `classes_ms` / `classes_pct`: ms per step and % of the profiled step, per class of
  `suite.profiling.classes.CLASSES` (every class, zeros included);
- `overhead_ms` / `overhead_pct`: the framework's overhead, profiled step wall time - Σ op
  self time (`op_self_ms`); so Σ classes + overhead = the profiled step, by construction.
  `bookkeeping_ms` is the part of it that the profiler recorded as the framework's own
  events (torch's autograd engine, optimizer Python), the rest it did not see at all;
- `profiled_step_ms`, `unprofiled_step_ms` (the same process's steps without the profiler,
  the mean of its unprofiled windows) and `profiler_cost_pct` (profiled / unprofiled - 1):
  a profiled figure is never a timed one, and this says by how much it differs;
- `ops`: every op name with its class, ms and calls per step (what the class sums are
  made of; a name in class "other" shows here);
- `profiler`, `basis` (host or device self time), `steps` (per window), `windows` (how
  many, profiled and unprofiled), `window_step_ms` (each window's ms per step, profiled and
  unprofiled, in the order they ran: a window the machine slowed shows there).
Step times are means over a window (Σ time / steps), because op self times are sums over
the same window.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from suite.profiling.classes import CLASSES, OVERHEAD, classify

NS_PER_MS = 1e6
US_PER_MS = 1e3
PROFILE_CSV = "profile.csv"
# identifying fields of the point, then one row per class (and "overhead")
CSV_POINT_FIELDS = ("task", "framework", "optimization", "model", "batch_size", "input_size",
                    "device", "dtype", "threads", "interop_threads", "mapping", "ht", "memory",
                    "nproc_per_node", "nnodes", "arm")
CSV_COLUMNS = [*CSV_POINT_FIELDS, "class", "ms_per_step", "pct", "overhead_ms",
               "profiled_step_ms", "unprofiled_step_ms", "profiler_cost_pct", "status", "reason"]


@dataclass(frozen=True)
class OpTime:
    """One op name's self time over the profiled window, as a collector reports it."""

    name: str          # the framework's name, with OPTIMIZER_SCOPE in front inside the optimizer
    self_us: float     # total self time over the window, µs
    calls: int = 1


@dataclass(frozen=True)
class Windows:
    """The wall times of the worker's windows, each `steps` steps long; the op times are
    summed over all the profiled ones."""

    steps: int
    profiled_ns: tuple[int, ...]
    unprofiled_ns: tuple[int, ...]


def aggregate(ops: Iterable[OpTime]) -> dict[str, OpTime]:
    """The op times summed per name."""
    out: dict[str, OpTime] = {}
    for op in ops:
        seen = out.get(op.name)
        out[op.name] = op if seen is None else OpTime(op.name, seen.self_us + op.self_us,
                                                      seen.calls + op.calls)
    return out


def _r(value: float) -> float:
    return round(float(value), 4)


def profile_record(framework: str, ops: Iterable[OpTime], windows: Windows,
                   profiler: str, basis: str = "host") -> dict[str, Any]:
    """The profile record of one point (see the module docstring)."""
    if windows.steps < 1 or not windows.profiled_ns or not windows.unprofiled_ns:
        raise ValueError("a profile needs a profiled and an unprofiled window of steps")
    steps = windows.steps * len(windows.profiled_ns)   # the op times' steps
    per_class_us = {c: 0.0 for c in CLASSES}
    bookkeeping_us = 0.0
    rows = []
    for op in sorted(aggregate(ops).values(), key=lambda o: -o.self_us):
        cls = classify(framework, op.name)
        if cls == OVERHEAD:
            bookkeeping_us += op.self_us
        else:
            per_class_us[cls] += op.self_us
        rows.append({"name": op.name, "class": cls,
                     "ms_per_step": _r(op.self_us / steps / US_PER_MS),
                     "calls_per_step": _r(op.calls / steps)})
    profiled_ms = sum(windows.profiled_ns) / steps / NS_PER_MS
    unprofiled_ms = sum(windows.unprofiled_ns) / len(windows.unprofiled_ns) / windows.steps \
        / NS_PER_MS
    classes_ms = {c: us / steps / US_PER_MS for c, us in per_class_us.items()}
    op_self_ms = sum(classes_ms.values())
    overhead_ms = profiled_ms - op_self_ms
    return {"status": "ok", "reason": "", "profiler": profiler, "basis": basis,
            "steps": windows.steps,
            "windows": len(windows.profiled_ns) + len(windows.unprofiled_ns),
            "classes_ms": {c: _r(v) for c, v in classes_ms.items()},
            "classes_pct": {c: _r(100.0 * v / profiled_ms) for c, v in classes_ms.items()},
            "overhead_ms": _r(overhead_ms), "overhead_pct": _r(100.0 * overhead_ms / profiled_ms),
            "bookkeeping_ms": _r(bookkeeping_us / steps / US_PER_MS),
            "op_self_ms": _r(op_self_ms), "profiled_step_ms": _r(profiled_ms),
            "unprofiled_step_ms": _r(unprofiled_ms),
            "profiler_cost_pct": _r(100.0 * (profiled_ms / unprofiled_ms - 1.0)),
            "window_step_ms": {"profiled": _per_step(windows.profiled_ns, windows.steps),
                               "unprofiled": _per_step(windows.unprofiled_ns, windows.steps)},
            "ops": rows}


def _per_step(walls_ns: tuple[int, ...], steps: int) -> list[float]:
    """Each window's ms per step, in the order the windows ran."""
    return [_r(w / steps / NS_PER_MS) for w in walls_ns]


def unavailable(reason: str) -> dict[str, Any]:
    """The record of a point whose profiler is missing or failed (its timing is unaffected)."""
    return {"status": "unavailable", "reason": reason[:500]}


def is_profiled(profile: dict[str, Any] | None) -> bool:
    """Whether a stored profile record has figures."""
    return bool(profile) and profile.get("status") == "ok" and "classes_ms" in profile


def csv_rows(spec: dict[str, Any], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """`profile.csv`'s rows of one point: a row per class then "overhead", each repeating
    the point's figures; one row with class "" for an unavailable profile."""
    point = {k: spec.get(k, "") for k in CSV_POINT_FIELDS}
    shared = {k: profile.get(k, "") for k in ("overhead_ms", "profiled_step_ms",
                                               "unprofiled_step_ms", "profiler_cost_pct")}
    shared.update(status=profile.get("status", ""), reason=profile.get("reason", ""))
    if not is_profiled(profile):
        return [{**point, "class": "", "ms_per_step": "", "pct": "", **shared}]
    rows = [{**point, "class": c, "ms_per_step": profile["classes_ms"].get(c, 0.0),
             "pct": profile["classes_pct"].get(c, 0.0), **shared} for c in CLASSES]
    rows.append({**point, "class": OVERHEAD, "ms_per_step": profile["overhead_ms"],
                 "pct": profile["overhead_pct"], **shared})
    return rows
