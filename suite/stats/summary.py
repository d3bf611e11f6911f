"""Every figure of a point (`Summary`), derived from its raw samples by one function."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from suite.stats.intervals import (NS_PER_MS, NS_PER_S, PERCENTILE_METHOD, Windows,
                                   _relative_half, _step_time_and_ci, percentile_ci,
                                   split_processes, timed_samples, usable_windows)
from suite.stats.precision import achieved_precision, process_spread


# --- the figures of a point -------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    """Latency and throughput figures of one point, all derived from the raw samples.

    Every figure shown has its 95% CI: the median (ci_low_ms/ci_high_ms), p90 and p99, and
    the throughput. `achieved_precision` is the larger relative half-width of the median's
    and the throughput's CI, the number `--precision` is compared with; `process_spread`
    how far the processes of a `--processes N` point disagree (`process_spread`).
    """

    iterations: int
    total_time_s: float
    median_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    p90_ms: float
    p99_ms: float
    ci_low_ms: float
    ci_high_ms: float
    ci_relative_half_width: float
    p90_ci_low_ms: float
    p90_ci_high_ms: float
    p99_ci_low_ms: float
    p99_ci_high_ms: float
    items_per_second: float
    items_per_second_ci_low: float
    items_per_second_ci_high: float
    items_per_second_ci_relative_half_width: float
    achieved_precision: float
    gflops_per_second: float | None
    processes: int = 1
    process_spread: float = 0.0             # relative sd of the per-process figures
    windows: int = 0                        # windows the throughput came from (0: the samples)
    basis: str = "host"                     # which samples: "device" (CUDA events) or "host"
    percentile_method: str = PERCENTILE_METHOD

    def to_dict(self) -> dict:
        """The fields as JSON can hold them: an open CI bound (±inf) becomes None."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def summarize(samples_ns: Sequence[int], items_per_step: int,
              flops_per_item: float | None = None,
              samples_per_process: Sequence[int] | None = None,
              basis: str = "host", windows: Windows | None = None) -> Summary:
    """All figures of CONTRACT §7 from per-step durations in ns.

    Throughput is items processed / total timed time (sum of batch / sum of step time); for
    a point timed in `windows` (wall ns of each window, steps in it; they must cover every
    sample) the total timed time is Σ window time, since steps overlap within a window.
    `flops_per_item` counts floating-point operations (2 x multiply-adds) per item.
    `samples_per_process` (counts, in order) makes every CI cover the spread between the
    worker processes. Raises ValueError when the result would not be positive and finite.
    """
    x = np.asarray(samples_ns, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("samples must be positive and finite")
    per_process = samples_per_process if len(split_processes(x, samples_per_process)) > 1 \
        else None
    usable = usable_windows(windows, x.size)
    _, step_low_ns, step_high_ns = _step_time_and_ci(x, per_process, windows)
    total_s = float((x if usable is None else usable[0]).sum()) / NS_PER_S
    items = items_per_step * x.size
    ms = x / NS_PER_MS
    median, (lo, hi) = float(np.median(ms)), percentile_ci(ms, 50, samples_per_process=per_process)
    p90, p99 = (percentile_ci(ms, p, samples_per_process=per_process) for p in (90, 99))
    tp = items / total_s
    tp_low, tp_high = (items_per_step * NS_PER_S / b for b in (step_high_ns, step_low_ns))
    s = Summary(
        iterations=int(x.size), total_time_s=total_s,
        median_ms=median, mean_ms=float(ms.mean()),
        min_ms=float(ms.min()), max_ms=float(ms.max()),
        std_ms=float(ms.std(ddof=1)) if x.size > 1 else 0.0,
        p90_ms=float(np.percentile(ms, 90)), p99_ms=float(np.percentile(ms, 99)),
        ci_low_ms=lo, ci_high_ms=hi, ci_relative_half_width=_relative_half(median, lo, hi),
        p90_ci_low_ms=p90[0], p90_ci_high_ms=p90[1], p99_ci_low_ms=p99[0], p99_ci_high_ms=p99[1],
        items_per_second=tp, items_per_second_ci_low=tp_low, items_per_second_ci_high=tp_high,
        items_per_second_ci_relative_half_width=_relative_half(tp, tp_low, tp_high),
        achieved_precision=achieved_precision(x, per_process, windows),
        gflops_per_second=None if not flops_per_item else flops_per_item * items / total_s / 1e9,
        processes=len(per_process) if per_process else 1,
        process_spread=process_spread(x, per_process, windows),
        windows=0 if usable is None else int(usable[0].size), basis=basis,
    )
    _check_sane(s)
    return s


def point_summary(m: Any) -> Summary:
    """Every figure of a stored point (a `suite.spec.Measurement`), from its raw samples by
    the one rule of `timed_samples`; the only way the console, tables, plots and compare
    get figures. Raises ValueError for samples that give no sane figures."""
    samples, basis = timed_samples(m.samples_ns, m.device_samples_ns)
    windows = (getattr(m, "window_ns", None), getattr(m, "window_steps", None))
    return summarize(samples, m.items_per_step or m.spec.batch_size, m.flops_per_item,
                     getattr(m, "samples_per_process", None), basis, windows)


def point_process_spread(m: Any) -> float:
    """`process_spread` of a stored point, on the samples `timed_samples` picks."""
    samples, _ = timed_samples(m.samples_ns, m.device_samples_ns)
    return process_spread(samples, getattr(m, "samples_per_process", None),
                          (getattr(m, "window_ns", None), getattr(m, "window_steps", None)))


def meets_precision(s: Summary, precision: float, min_iterations: int = 10) -> bool:
    """Whether a summary reaches a `--precision` target (the loop's rule, on all processes)."""
    return s.iterations >= min_iterations and s.achieved_precision <= precision


def _check_sane(s: Summary) -> None:
    for name in ("median_ms", "mean_ms", "min_ms", "max_ms", "items_per_second"):
        v = getattr(s, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"derived figure {name}={v!r} is not positive and finite")
    if s.gflops_per_second is not None and not (math.isfinite(s.gflops_per_second)
                                                and s.gflops_per_second > 0):
        raise ValueError(f"derived GFLOP/s {s.gflops_per_second!r} is not positive and finite")
