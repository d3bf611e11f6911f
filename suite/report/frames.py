"""A run's points as one pandas DataFrame, with every derived figure recomputed from the samples.

One row per point: the PointSpec fields, status and message, then the figures of
`suite.stats.point_summary` (median_ms, p90_ms, p99_ms, items_per_second, each with its
95% CI, ...; from the device's samples where a point has them, else the host's, as `basis`
says), `memory_mib` (the figure the memory tables show) and `memory_source` (which figure
that is), `model_memory_mib` (the CPU peak above the framework's idle footprint),
cold_start_ms and precision_reached, `peak_gflops_per_second` (the peak the point is
divided by, from run.json or, for a point that ran in a Slurm job, its compute node's
peak stored with its host (`suite.host_peak`); `suite.peak.point_peak_gflops` picks the
figure - the CPU's float32 FMA limit at its threads x local ranks, or the GPU's peak of
its dtype), `percent_of_peak` (the point's achieved `gflops_per_second` as a % of it)
and `peak_basis` (what that peak is, e.g. "the TF32 tensor-core peak", or why there is
none, e.g. "no bfloat16 peak: ..."); on a GPU
also `device_timing` (how its device time was taken), `device_used_mib` (device-wide used
memory) and `allocator_peaks` (the framework allocator's own peaks, as text).
`not_same_function` (`suite.report.flags`) holds why an imported model's point does not
compute its file's function ("" where it does). Figures are NaN for points that did not
run (status other than ok). The cached `summary` stored with each point is ignored on
purpose: a better estimator in `suite.stats` then fixes every old run.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from suite import stats
from suite.blocks import CONTROL_ARM
from suite.errors import UsageError
from suite.host_peak import peak_place, point_peak_record
from suite.peak import PEAK_KEY, percent_of_peak, point_peak_gflops
from suite.report.flags import run_flags, with_flags
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, load_measurements, read_run_info

SPEC_COLUMNS = [f.name for f in dataclasses.fields(PointSpec)]
# suite.energy's record, per point: how it was measured, totals and net of the idle baseline
ENERGY_COLUMNS = ["energy_method", "joules_per_item", "net_joules_per_item", "avg_watts",
                  "idle_watts", "energy_precise", "energy_note"]
ENERGY_FIELDS = {"energy_method": "method", "joules_per_item": "joules_per_item",
                 "net_joules_per_item": "net_joules_per_item", "avg_watts": "avg_watts",
                 "idle_watts": "idle_watts", "energy_precise": "precise"}
TEXT_SUMMARY_FIELDS = ("percentile_method", "basis")
SUMMARY_COLUMNS = [f.name for f in dataclasses.fields(stats.Summary)
                   if f.name not in TEXT_SUMMARY_FIELDS]
FIGURE_COLUMNS = SUMMARY_COLUMNS + ["basis", "device_median_ms", "memory_mib",
                                    "memory_low_mib", "model_memory_mib", "cold_start_ms", "precision_reached",
                                    "device_timing", "memory_source", "device_used_mib",
                                    "allocator_peaks", "peak_gflops_per_second",
                                    "percent_of_peak", "peak_basis"] + ENERGY_COLUMNS
FRAME_COLUMNS = SPEC_COLUMNS + ["status", "message"] + FIGURE_COLUMNS


@dataclass
class Run:
    """A loaded run folder, read once: run.json, the stored measurements, and the points
    as frames. `frame` leaves out the control arms (blind copies of a block's reference,
    `suite.blocks.CONTROL_ARM`): they exist for the paired ratios, not for the tables and
    plots; `points` has every row, control arms included (points.csv)."""

    path: Path
    info: RunInfo
    frame: pd.DataFrame
    measurements: list[Measurement] = field(default_factory=list)
    points: pd.DataFrame | None = None


def load_run(run_dir: Path) -> Run:
    """Read run.json and points.jsonl; UsageError for a folder that is not a readable run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a folder (expected a dlbench run folder)")
    info = read_run_info(run_dir)
    _register_imported(info)
    try:
        measurements = load_measurements(run_dir)
    except (KeyError, TypeError) as e:
        raise UsageError(f"{run_dir}/points.jsonl has a malformed record: {e}") from None
    precision = info.config.get("precision") if isinstance(info.config, dict) else None
    points = with_peak(measurements_frame(measurements, precision),
                       info.environment.get(PEAK_KEY), [m.meta for m in measurements])
    points = with_flags(points, run_flags(info.equivalence))    # --model-file's checks
    return Run(path=run_dir, info=info, frame=without_control_arms(points),
               measurements=measurements, points=points)


def without_control_arms(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that are not a control arm (`suite.blocks.CONTROL_ARM`)."""
    if "arm" not in frame.columns:
        return frame
    return frame[frame["arm"].fillna("") != CONTROL_ARM]


def with_peak(frame: pd.DataFrame, peak: dict[str, Any] | None,
              metas: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """`frame` with `peak_gflops_per_second`, `percent_of_peak` and `peak_basis` filled
    from a run's stored peak by `suite.peak.point_peak_gflops` (NaN where the point has no
    peak - `peak_basis` says why - or no GFLOP/s). `metas`, the rows' points' meta in
    order, lets a point that ran on a Slurm node use its node's peak (`suite.host_peak`)."""
    out = frame.copy()
    metas = metas if metas is not None else [{}] * len(out)
    peaks = [point_peak_gflops(point_peak_record(peak, meta), PointSpec.from_dict(row))
             for row, meta in zip(out[SPEC_COLUMNS].to_dict("records"), metas)]
    out["peak_gflops_per_second"] = pd.to_numeric(
        pd.Series([p.gflops for p in peaks], index=out.index, dtype=object), errors="coerce")
    out["peak_basis"] = pd.Series([p.basis + peak_place(meta) for p, meta in zip(peaks, metas)],
                                  index=out.index, dtype=object)
    percent = [percent_of_peak(g if pd.notna(g) else None, p if pd.notna(p) else None)
               for g, p in zip(out["gflops_per_second"], out["peak_gflops_per_second"])]
    out["percent_of_peak"] = pd.to_numeric(pd.Series(percent, index=out.index, dtype=object),
                                           errors="coerce")
    return out


def measurements_frame(measurements: Iterable[Measurement],
                       precision: float | None = None) -> pd.DataFrame:
    """One row per measurement with the derived figures (see the module docstring).

    With the run's `precision` target, `precision_reached` is judged again on the samples
    (`stats.meets_precision`), so the flag always agrees with the CIs shown; without it the
    stored flag is kept.
    """
    rows = [_row(m, precision) for m in measurements]
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    for col in SUMMARY_COLUMNS + ["device_median_ms", "memory_mib", "memory_low_mib",
                                  "model_memory_mib",
                                  "cold_start_ms", "device_used_mib", "peak_gflops_per_second",
                                  "percent_of_peak", "joules_per_item", "net_joules_per_item",
                                  "avg_watts", "idle_watts"]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def _row(m: Measurement, precision: float | None = None) -> dict[str, Any]:
    row: dict[str, Any] = dataclasses.asdict(m.spec)    # every column, for one table
    row.update(status=m.status, message=m.message or "")
    if m.status != "ok":
        return row
    try:
        summary = stats.point_summary(m)
    except ValueError as e:
        # An ok record whose samples cannot give sane figures is reported, not plotted.
        row.update(status="error", message=f"stored samples unusable: {e}")
        return row
    row.update({k: v for k, v in summary.to_dict().items() if k in SUMMARY_COLUMNS})
    if m.spec.task == "serve":   # queries overlap: the rate is LoadGen's, not 1 / latency
        from suite.serving.figures import achieved_qps
        row.update(items_per_second=achieved_qps(m), items_per_second_ci_low=math.nan,
                   items_per_second_ci_high=math.nan,
                   items_per_second_ci_relative_half_width=math.nan)
    row["basis"] = summary.basis
    if m.device_samples_ns:
        row["device_median_ms"] = float(pd.Series(m.device_samples_ns).median()) / stats.NS_PER_MS
    row["memory_mib"] = memory_mib(m)
    row["memory_low_mib"] = memory_low_mib(m)
    row["memory_source"] = memory_source(m)
    row["model_memory_mib"] = model_memory_mib(m)
    if m.spec.device == "cuda":
        row["device_timing"] = m.meta.get("device_timing")
        row["device_used_mib"] = (m.memory or {}).get("peak_device_mib")
        row["allocator_peaks"] = allocator_peaks(m)
    if m.cold_start_ns:
        row["cold_start_ms"] = m.cold_start_ns / stats.NS_PER_MS
    row.update(energy_columns(m.energy))
    row["precision_reached"] = bool(m.precision_reached) if not precision else \
        stats.meets_precision(summary, float(precision))
    return row


def energy_columns(energy: dict[str, Any] | None) -> dict[str, Any]:
    """A point's energy record (`suite.energy`) as frame columns; the note holds the
    reason where there is no figure. Records of older dlbench versions have none."""
    if not energy:
        return {"energy_method": "not recorded"}
    row = {col: energy.get(key) for col, key in ENERGY_FIELDS.items()}
    row["energy_note"] = energy.get("reason") or energy.get("note") or ""
    return row


def memory_mib(m: Measurement) -> float | None:
    """The memory figure of the tables, in whole MiB.

    On a GPU the process's own device memory (NVML per process) where known, else the
    device-wide peak; on the CPU the process's peak resident set. A zero figure counts as
    unknown (NVML reports 0 per process where it cannot attribute memory, e.g. in containers).
    """
    mem = m.memory or {}
    if m.spec.device == "cuda":
        keys = ("process_device_mib", "peak_device_mib")
    else:
        keys = ("peak_rss_mib",)
    for key in keys:
        value = mem.get(key)
        if value is not None and math.isfinite(float(value)) and float(value) > 0:
            return float(round(float(value)))
    return None


SOURCE_KEYS = {"rss": "peak_rss_mib", "process device": "process_device_mib",
               "device-wide": "peak_device_mib"}


def memory_low_mib(m: Measurement) -> float | None:
    """The lowest of the point's processes' figures behind `memory_mib` (which is their
    highest), in whole MiB: fresh processes of one point do not repeat a peak to the MiB
    (malloc's per-thread arenas, the frameworks' pools). None for a single process."""
    records = (m.meta or {}).get("processes")
    key = SOURCE_KEYS.get(memory_source(m) or "")
    if not isinstance(records, list) or key is None:
        return None
    values = [float(r["memory"][key]) for r in records
              if isinstance(r, dict) and _positive((r.get("memory") or {}).get(key))]
    return float(round(min(values))) if len(values) >= 2 else None


def _positive(value: Any) -> bool:
    return value is not None and math.isfinite(float(value)) and float(value) > 0


def memory_source(m: Measurement) -> str | None:
    """Which figure `memory_mib` is: "process device" (NVML per process), "device-wide"
    (the GPU's used memory, where NVML cannot attribute memory to the process) or "rss"."""
    mem = m.memory or {}
    if m.spec.device != "cuda":
        return "rss" if _positive(mem.get("peak_rss_mib")) else None
    if _positive(mem.get("process_device_mib")):
        return "process device"
    return "device-wide" if _positive(mem.get("peak_device_mib")) else None


IDLE_KEY = "framework_idle_rss_mib"     # the idle footprint, not an allocator figure


def allocator_peaks(m: Measurement) -> str | None:
    """The framework allocator's own figures of a point as text ("torch allocated peak
    1500, torch reserved peak 1600", whole MiB, the names its adapter gives), or None."""
    figures = [(k[len("framework_"):].removesuffix("_mib").replace("_", " "), v)
               for k, v in sorted((m.memory or {}).items())
               if k.startswith("framework_") and k != IDLE_KEY and _positive(v)]
    return ", ".join(f"{name} {round(float(v))}" for name, v in figures) or None


def model_memory_mib(m: Measurement) -> float | None:
    """The process's peak RSS above the framework's idle footprint after import, in whole
    MiB: what the model itself brought (weights, activations, workspaces, caches its steps
    filled). None on a GPU, whose peak is device memory, or where either figure is missing."""
    mem = m.memory or {}
    peak, idle = mem.get("peak_rss_mib"), mem.get("framework_idle_rss_mib")
    if m.spec.device == "cuda" or peak is None or idle is None:
        return None
    if not (math.isfinite(float(peak)) and math.isfinite(float(idle)) and float(idle) > 0):
        return None
    return float(round(float(peak) - float(idle)))


# --- the model zoo: display names, order, reference accuracy ---------------------------

def _zoo() -> Any:
    from suite.models import zoo  # imported late: the zoo is a heavier module
    return zoo


def _known_models() -> tuple[str, ...]:
    """Zoo order: MODEL_NAMES, then the zoo's extra models."""
    zoo = _zoo()
    extra = tuple(n for n in getattr(zoo, "ALL_MODEL_NAMES", ()) if n not in zoo.MODEL_NAMES)
    return tuple(zoo.MODEL_NAMES) + extra


def model_order(names: Iterable[str]) -> list[str]:
    """The given model names in zoo order; names the zoo does not know go last, sorted."""
    order = {name: i for i, name in enumerate(_known_models())}
    unique = {str(n) for n in names}
    return sorted(unique, key=lambda n: (order.get(n, len(order)), n))


def model_title(name: str) -> str:
    """Display name ("ResNet-50"); the raw name when the zoo does not know it."""
    if name not in _known_models():
        return name
    return _zoo().title(name)


def item_unit(name: str) -> str:
    """What one item of the model is, for throughput labels: "images", "sequences", or
    "items" when the zoo does not know the model."""
    if name not in _known_models():
        return "items"
    return "images" if _zoo().is_image_model(name) else "sequences"


def _register_imported(info: RunInfo) -> None:
    """The run's own models (--model-file) known again, from the files run.json names, so
    that titles and input shapes work in a `report` of its own; a file gone is skipped."""
    from suite.models import imported
    files = {name: r["file"] for name, r in (info.equivalence or {}).items()
             if isinstance(r, dict) and r.get("file") and Path(r["file"]).is_file()}
    imported.register_model_files(files)


def reference_accuracy(name: str) -> str:
    """Reference ImageNet-1k top-5 accuracy as "92.6%", or "unknown"."""
    zoo = _zoo()
    if name not in _known_models():
        return "unknown"
    value = getattr(zoo.get_model(name), "reference_top5", None)
    return "unknown" if value is None else f"{float(value):.1f}%"


# --- small helpers shared by tables, plots and the page --------------------------------

VARIANT_FIELDS = ("device", "dtype", "input_size", "interop_threads", "mapping", "ht", "memory",
                  "nproc_per_node", "nnodes")
PREFERRED = {"mapping": "sequential", "ht": False, "memory": "local", "nproc_per_node": 1,
             "nnodes": 1}


def ok_points(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


def base_variant(frame: pd.DataFrame, free: Iterable[str] = ()) -> dict[str, Any]:
    """The variant the base views show: sequential mapping, local memory, HT off where
    those have ok points, otherwise the most common value among the ok points.

    Fields in `free` are left out (they are the dimension a view compares).
    """
    ok = ok_points(frame)
    chosen: dict[str, Any] = {}
    for name in VARIANT_FIELDS:
        if name in free or ok.empty:
            continue
        values = list(ok[name])
        preferred = PREFERRED.get(name)
        if preferred is not None and preferred in values:
            chosen[name] = preferred
        else:
            chosen[name] = pd.Series(values).value_counts().index[0]
    return chosen


def swept_dtypes(frame: pd.DataFrame, config: dict[str, Any] | None = None) -> list[str]:
    """The dtypes of a run: its configured ones (`suite.sweep.config_dtypes`, which reads
    older run.json files' single "dtype" too) and its points', in that order."""
    from suite.sweep import config_dtypes
    configured = config_dtypes(config) if isinstance(config, dict) and config else []
    return list(dict.fromkeys(configured + [str(d) for d in frame["dtype"]]))


def dtype_suffix(dtype: Any, several: bool, heading: bool = False) -> str:
    """" bfloat16" after a variant's label ("pytorch (eager) bfloat16") where its run has
    several dtypes - a line, column or cell must never mix them - or, in a heading, where
    the dtype is not float32; "" otherwise."""
    return f" {dtype}" if several or (heading and str(dtype) != "float32") else ""


def select(frame: pd.DataFrame, **equal: Any) -> pd.DataFrame:
    """Rows whose columns equal the given values."""
    mask = pd.Series(True, index=frame.index)
    for name, value in equal.items():
        mask &= frame[name] == value
    return frame[mask]


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {k: int(v) for k, v in frame["status"].value_counts().sort_index().items()}
