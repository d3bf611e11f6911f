"""Statistics derived from raw per-iteration samples. Pure functions; no framework imports.

One rule picks the samples every figure comes from (`timed_samples`: the device's CUDA-event
times when a point has them, else the host's), and one function derives every figure of a
stored point from them (`point_summary`): the console line, the tables, the plots and
`compare` all call it, so no cached summary can disagree with what is shown. A point timed
in windows of steps (GPU: one synchronisation per window, so steps overlap) takes its
throughput from the windows instead: Σ items / Σ window wall time (`window_time_ci`).

Percentiles use linear interpolation between order statistics (Hyndman & Fan type 7,
numpy's default "linear" method). The confidence intervals of the median and of the other
percentiles are the distribution-free ones from binomial order statistics, so they hold for
the skewed, multi-modal latency distributions benchmarks produce. The confidence interval
of the throughput (Σ items / Σ time, a mean) is a batch-means t-interval (see
`mean_time_ci`). A point measured in several worker processes (`--processes N`) gets
intervals that also cover the spread between the processes: each interval is widened to at
least the t-interval of the N per-process figures.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as _sp

PERCENTILE_METHOD = "linear (Hyndman-Fan type 7)"
NS_PER_MS = 1e6
NS_PER_S = 1e9
COMPARE_BLOCKS = 10         # contiguous blocks per run when compare has no process figures


# --- which samples ----------------------------------------------------------------------

def timed_samples(host_ns: Sequence[int] | None,
                  device_ns: Sequence[int] | None) -> tuple[Sequence[int], str]:
    """The samples every figure is derived from, and their name: the device's ("device")
    when a point has CUDA-event times, else the host's ("host").

    Device times exclude the host's launch and synchronisation jitter, so on a GPU they are
    the figure of the work itself; the stopping rule, the precision flag and every
    statistic use this one choice.
    """
    if device_ns is not None and len(device_ns) > 0:
        return device_ns, "device"
    return (host_ns if host_ns is not None else []), "host"


def split_processes(samples: Sequence[float],
                    samples_per_process: Sequence[int] | None) -> list[np.ndarray]:
    """The samples of each worker process (one part when the counts are absent or do not
    add up to the number of samples)."""
    x = np.asarray(samples, dtype=np.float64)
    counts = list(samples_per_process or [])
    if len(counts) < 2 or sum(counts) != x.size or min(counts) < 1:
        return [x]
    return np.split(x, np.cumsum(counts)[:-1])


# --- confidence intervals ---------------------------------------------------------------

def quantile_ci(samples: Sequence[float], q: float,
                confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the q-quantile (binomial order statistics).

    [x(l), x(u)] with l = F⁻¹(α/2) and u = F⁻¹(1 - α/2) + 1 for F the Binomial(n, q)
    distribution (1-based order statistics). Where the order statistic a bound needs lies
    outside the samples (l < 1 or u > n: a p99 needs about 300 samples for its upper
    bound), that bound is open: -inf or +inf, never the smallest or largest sample, which
    would make a closed interval that covers far less often than it says (a clipped p99
    covered 37% of the time at n = 50, 84% at n = 200).
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    alpha = 1.0 - confidence
    low = int(_sp.binom.ppf(alpha / 2, n, q))
    high = int(_sp.binom.ppf(1 - alpha / 2, n, q)) + 1
    return (float(x[low - 1]) if low >= 1 else -math.inf,
            float(x[high - 1]) if high <= n else math.inf)


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the median (see `quantile_ci`); with fewer than 6 samples no
    95% interval exists and both bounds are open."""
    return quantile_ci(samples, 0.5, confidence)


def _t_half(values: Sequence[float], confidence: float) -> float:
    """Half-width of the t-interval of the mean of `values` (0 for fewer than two)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return 0.0
    return float(_sp.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def _widened(low: float, high: float, centre: float, per_process: Sequence[float],
             confidence: float) -> tuple[float, float]:
    """[low, high] widened to at least centre ± the t-interval half-width of the
    per-process figures, so the interval covers the variation between processes."""
    half = _t_half(per_process, confidence)
    return min(low, centre - half), max(high, centre + half)


def _batch_means_half(x: np.ndarray, confidence: float) -> float:
    """Half-width of the mean's t-interval from k = n // 5 contiguous batches (2 to 20)."""
    if x.size < 2:
        return 0.0
    k = min(20, max(2, x.size // 5))
    return _t_half([b.mean() for b in np.array_split(x, k)], confidence)


def mean_time_ci(samples_ns: Sequence[float], confidence: float = 0.95,
                 samples_per_process: Sequence[int] | None = None) -> tuple[float, float]:
    """Confidence interval of the mean step time (ns), by batch means.

    Successive steps are correlated (caches, clock boost, allocator state), so the mean's
    standard error comes from contiguous batches of steps, not from single steps: the
    samples are split into k = n // 5 batches (2 to 20), and the interval is
    mean ± t(k-1) · sd(batch means) / √k. With several processes it is widened to at least
    the t-interval of the per-process means. The bounds are clipped to the fastest and
    slowest step (the mean cannot lie outside them), which keeps both finite when the
    batches disagree wildly. One sample gives no interval: (mean, mean).
    """
    x = np.asarray(samples_ns, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    mean_ns = float(x.mean())
    half = _batch_means_half(x, confidence)
    parts = split_processes(x, samples_per_process)
    low, high = _widened(mean_ns - half, mean_ns + half, mean_ns,
                         [p.mean() for p in parts] if len(parts) > 1 else [], confidence)
    return max(low, float(x.min())), min(high, float(x.max()))


Windows = tuple[Sequence[int], Sequence[int]]   # (wall ns of each window, steps in it)


def usable_windows(windows: Windows | None, steps: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The windows as arrays when they cover exactly `steps` steps with positive, finite
    times; None otherwise (the throughput then comes from the per-step samples)."""
    if windows is None or windows[0] is None or windows[1] is None or len(windows[0]) == 0:
        return None
    w = np.asarray(windows[0], dtype=np.float64)
    n = np.asarray(windows[1], dtype=np.float64)
    if w.shape != n.shape or n.sum() != steps or np.any(n < 1) or \
            not np.all(np.isfinite(w)) or np.any(w <= 0):
        return None
    return w, n


def split_windows(window_ns: np.ndarray, window_steps: np.ndarray,
                  samples_per_process: Sequence[int] | None
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The windows of each worker process: those whose steps add up to each process's
    sample count, in order (one part when the counts are absent or do not line up)."""
    counts = list(samples_per_process or [])
    if len(counts) < 2:
        return [(window_ns, window_steps)]
    ends = np.cumsum(window_steps)
    cuts = [int(np.searchsorted(ends, c, side="right")) for c in np.cumsum(counts)[:-1]]
    if any(c == 0 or ends[c - 1] != b for c, b in zip(cuts, np.cumsum(counts)[:-1])):
        return [(window_ns, window_steps)]
    return list(zip(np.split(window_ns, cuts), np.split(window_steps, cuts)))


def window_time_ci(window_ns: np.ndarray, window_steps: np.ndarray, confidence: float = 0.95,
                   samples_per_process: Sequence[int] | None = None) -> tuple[float, float]:
    """Confidence interval of the wall time per step Σ window time / Σ steps (ns).

    The ratio estimator's interval over the k windows: R ± t(k-1) · se with
    se² = Σ (w_i − R·n_i)² / (k (k−1) n̄²) (windows are long, so nearly independent),
    widened with several processes to at least the t-interval of the per-process ratios,
    and clipped to the fastest and slowest window's time per step. One window gives no
    interval: (R, R).
    """
    w, n = np.asarray(window_ns, dtype=np.float64), np.asarray(window_steps, dtype=np.float64)
    ratio = float(w.sum() / n.sum())
    k = w.size
    half = 0.0
    if k >= 2:
        se = math.sqrt(float(((w - ratio * n) ** 2).sum()) / (k * (k - 1))) / float(n.mean())
        half = float(_sp.t.ppf(0.5 + confidence / 2, k - 1)) * se
    parts = split_windows(w, n, samples_per_process)
    low, high = _widened(ratio - half, ratio + half, ratio,
                         [pw.sum() / pn.sum() for pw, pn in parts] if len(parts) > 1 else [],
                         confidence)
    per_step = w / n
    return max(low, float(per_step.min())), min(high, float(per_step.max()))


def percentile_ci(samples: Sequence[float], percent: float, confidence: float = 0.95,
                  samples_per_process: Sequence[int] | None = None) -> tuple[float, float]:
    """Confidence interval of a percentile (50 = the median), widened for several processes
    to at least the t-interval of the per-process percentiles (clipped to the samples'
    range, which keeps both bounds positive)."""
    x = np.asarray(samples, dtype=np.float64)
    low, high = quantile_ci(x, percent / 100.0, confidence)
    parts = split_processes(x, samples_per_process)
    if len(parts) < 2:
        return low, high
    centre = float(np.percentile(x, percent))
    low, high = _widened(low, high, centre, [np.percentile(p, percent) for p in parts],
                         confidence)
    # a widened closed bound stays within the data (and so positive); an open one stays open
    return (max(low, float(x.min())) if math.isfinite(low) else low,
            min(high, float(x.max())) if math.isfinite(high) else high)


def _relative_half(value: float, low: float, high: float) -> float:
    """Largest distance from `value` to a bound, relative to `value`."""
    if not value > 0:
        return math.inf
    return max(value - low, high - value) / value


def _step_time_and_ci(x: np.ndarray, samples_per_process: Sequence[int] | None,
                      windows: Windows | None) -> tuple[float, float, float]:
    """(time per step, CI low, CI high) in ns behind the throughput: from the windows
    where `windows` are usable, else the mean of the per-step samples."""
    usable = usable_windows(windows, x.size)
    if usable is not None:
        w, n = usable
        return float(w.sum() / n.sum()), *window_time_ci(w, n, samples_per_process=
                                                          samples_per_process)
    return float(x.mean()), *mean_time_ci(x, samples_per_process=samples_per_process)


def achieved_precision(samples_ns: Sequence[float],
                       samples_per_process: Sequence[int] | None = None,
                       windows: Windows | None = None) -> float:
    """The larger relative 95% CI half-width of the two figures a point reports: the median
    step time and the throughput (from the windows where a point has them). `--precision`
    is compared with this."""
    x = np.asarray(samples_ns, dtype=np.float64)
    median = float(np.median(x))
    lo, hi = percentile_ci(x, 50, samples_per_process=samples_per_process)
    step_ns, lo_ns, hi_ns = _step_time_and_ci(x, samples_per_process, windows)
    # throughput = c / time per step: its relative distances to the bounds, in items/s
    throughput_half = max(step_ns / lo_ns - 1.0, 1.0 - step_ns / hi_ns)
    return max(_relative_half(median, lo, hi), throughput_half)


def steps_for_precision(steps: int, achieved: float, target: float) -> float:
    """Timed steps a point needs for its CIs to narrow from the relative half-width
    `achieved` (after `steps` steps) to `target`, as CIs narrow with 1/sqrt(steps);
    inf when no number of steps can tell."""
    if not target > 0 or not math.isfinite(achieved):
        return math.inf
    return steps * max(1.0, (achieved / target) ** 2)


def process_spread(samples_ns: Sequence[float], samples_per_process: Sequence[int] | None,
                   windows: Windows | None = None) -> float:
    """The relative standard deviation of the per-process figures behind a point's CIs
    (the larger of the medians' and the times per step's); 0 for one process."""
    x = np.asarray(samples_ns, dtype=np.float64)
    parts = split_processes(x, samples_per_process)
    if len(parts) < 2:
        return 0.0
    usable = usable_windows(windows, x.size)
    steps = [pw.sum() / pn.sum() for pw, pn in split_windows(*usable, samples_per_process)] \
        if usable is not None else []
    if len(steps) != len(parts):
        steps = [p.mean() for p in parts]
    return max(float(np.std(v, ddof=1) / np.mean(v))
               for v in ([np.median(p) for p in parts], steps))


def processes_for_precision(spread: float, target: float, confidence: float = 0.95,
                            limit: int = 1000) -> float:
    """The fewest processes whose t-interval of the per-process figures, t(k-1)·spread/√k,
    is within `target` when the processes spread by `spread` (both relative); inf beyond
    `limit`. The between-process part of a point's CI narrows only with more processes,
    never with more steps in each."""
    if not target > 0 or not math.isfinite(spread):
        return math.inf
    for k in range(2, limit + 1):
        if _sp.t.ppf(0.5 + confidence / 2, k - 1) * spread / math.sqrt(k) <= target:
            return k
    return math.inf


def precision_reached(samples: Sequence[float], precision: float, min_samples: int = 10,
                      samples_per_process: Sequence[int] | None = None,
                      windows: Windows | None = None) -> bool:
    """True when the 95% CIs of both the median and the throughput are within ±precision
    (a fraction, e.g. 0.02) and there are at least `min_samples` samples."""
    return len(samples) >= min_samples and \
        achieved_precision(samples, samples_per_process, windows) <= precision


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


# --- how many digits a figure deserves ---------------------------------------------------

def ci_decimals(value: float, low: float, high: float) -> int | None:
    """Decimal places a figure's CI supports: those of its half-width rounded to one
    significant digit (two when that digit would be 1, so ±1.4 does not become ±1).
    Negative for tens, hundreds. None when the interval has no width or is not finite."""
    if not math.isfinite(value):
        return None
    return _distance_decimals(max(value - low, high - value))


def _distance_decimals(distance: float) -> int | None:
    """Decimal places of `distance` rounded to one significant digit (two if it is 1)."""
    if not (math.isfinite(distance) and distance > 0):
        return None
    exponent = math.floor(math.log10(distance))
    digits = 2 if distance / 10 ** exponent < 2 else 1
    return digits - 1 - exponent


def _one_digit_decimals(value: float) -> int:
    """Decimal places that keep one significant digit of `value` (so it never reads 0)."""
    return -math.floor(math.log10(abs(value))) if value else 0


def _fixed(value: float, decimals: int) -> str:
    return f"{round(value, decimals):.{max(decimals, 0)}f}"


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant figures without an exponent: 902, 47.3, 4.73, 0.473."""
    if not math.isfinite(value):
        return ""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return _fixed(value, decimals)


def rounded_to_ci(value: float, low: float, high: float) -> tuple[str, str | None, str | None]:
    """(value, low, high) as text, rounded to the decimal place the CI supports; without a
    usable interval (none, or an open bound) the value with three significant figures and
    no bounds."""
    if not (_finite(low) and _finite(high)):
        return significant(value), None, None
    decimals = ci_decimals(value, low, high)
    if decimals is None:
        return significant(value), None, None
    return _fixed(value, decimals), _fixed(low, decimals), _fixed(high, decimals)


def ci_text(value: float, low: float, high: float) -> str:
    """A figure and its 95% CI for people: "123 ± 4" (the larger distance to a bound),
    rounded by `ci_decimals`; "60 [0.6, 3000]" when one bound is less than half as far as
    the other, each bound rounded by its own distance (and kept at one significant digit at
    least), the figure by the nearer bound's; "123" when there is no interval; "12.3 [≥ 11]"
    when a bound is open (`quantile_ci`). Used by the console and the tables."""
    if _open(low) or _open(high):
        return _open_ci_text(value, low, high)
    decimals = ci_decimals(value, low, high)
    if decimals is None:
        return significant(value)
    below, above = value - low, high - value
    if min(below, above) >= 0.5 * max(below, above):
        return f"{_fixed(value, decimals)} ± {_fixed(max(below, above), decimals)}"
    below_dec, above_dec = (_distance_decimals(d) for d in (below, above))
    below_dec = decimals if below_dec is None else below_dec     # a bound at the figure
    above_dec = decimals if above_dec is None else above_dec
    low_dec = max(below_dec, _one_digit_decimals(low))
    high_dec = max(above_dec, _one_digit_decimals(high))
    value_dec = max(below_dec, above_dec)
    return f"{_fixed(value, value_dec)} [{_fixed(low, low_dec)}, {_fixed(high, high_dec)}]"


def _finite(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and not math.isfinite(v))


def _open(v: float | None) -> bool:
    """An open CI bound (`quantile_ci`: too few samples for it); NaN is "no interval"."""
    return isinstance(v, float) and math.isinf(v)


def _open_ci_text(value: float, low: float | None, high: float | None) -> str:
    """A CI with an open bound (too few samples for it): "12.3 [≥ 11.0]", "12.3 [≤ 14]",
    "12.3 [CI n/a]"; never a closed interval."""
    if _finite(low) and not _finite(high):
        return f"{significant(value)} [≥ {significant(float(low))}]"   # type: ignore[arg-type]
    if _finite(high):
        return f"{significant(value)} [≤ {significant(float(high))}]"  # type: ignore[arg-type]
    return f"{significant(value)} [CI n/a]"


# --- warm-up and comparison -------------------------------------------------------------

def medians_agree(previous: float, last: float, tolerance: float = 0.10) -> bool:
    """Two consecutive warm-up windows' medians are within `tolerance` of the earlier one."""
    return abs(last - previous) <= tolerance * previous


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of positive ratios (the right average for speed ratios)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.any(v <= 0):
        raise ValueError("geometric mean needs positive values")
    return float(np.exp(np.log(v).mean()))


def block_figures(samples_ns: Sequence[float], samples_per_process: Sequence[int] | None = None,
                  blocks: int = COMPARE_BLOCKS, by_process: bool = True) -> np.ndarray:
    """Nearly independent figures of one point for a significance test: the mean step time
    of each worker process (with `by_process` and at least two), else of `blocks`
    contiguous blocks of steps (at least 3 steps a block). Single steps are autocorrelated,
    so a test on them overstates significance."""
    x = np.asarray(samples_ns, dtype=np.float64)
    parts = split_processes(x, samples_per_process)
    if by_process and len(parts) > 1:
        return np.array([p.mean() for p in parts])
    k = max(1, min(blocks, x.size // 3))
    return np.array([b.mean() for b in np.array_split(x, k)])


def compare_samples(a_ns: Sequence[float], b_ns: Sequence[float],
                    a_per_process: Sequence[int] | None = None,
                    b_per_process: Sequence[int] | None = None) -> tuple[float, float, str]:
    """(ratio B/A of the mean step time — throughput A / B —, two-sided Welch t-test
    p-value, what was tested) for two points.

    The test runs on per-process mean step times when both points ran in at least two
    processes ("3+3 processes"), else on the means of ~10 contiguous blocks of each run
    ("10+10 blocks"); with fewer than two figures on a side p is 1.
    """
    by_process = len(split_processes(a_ns, a_per_process)) > 1 and \
        len(split_processes(b_ns, b_per_process)) > 1
    fa = block_figures(a_ns, a_per_process, by_process=by_process)
    fb = block_figures(b_ns, b_per_process, by_process=by_process)
    ratio = float(np.mean(b_ns) / np.mean(a_ns))
    basis = f"{fa.size}+{fb.size} {'processes' if by_process else 'blocks'}"
    if fa.size < 2 or fb.size < 2:
        return ratio, 1.0, basis
    if np.ptp(fa) == 0 and np.ptp(fb) == 0:     # no spread at all: equal or surely different
        return ratio, 1.0 if fa[0] == fb[0] else 0.0, basis
    p = float(_sp.ttest_ind(fa, fb, equal_var=False).pvalue)
    return ratio, (1.0 if math.isnan(p) else p), basis


# --- data-parallel training (suite.dataparallel) -----------------------------------------

def rank_times_s(rank_samples_ns: Sequence[Sequence[float]]) -> list[float]:
    """Each rank's timed time in seconds (Σ of its own step times), in rank order."""
    return [float(np.sum(np.asarray(r, dtype=np.float64))) / NS_PER_S for r in rank_samples_ns]


def straggler_ratio(rank_samples_ns: Sequence[Sequence[float]]) -> float:
    """The slowest rank's timed time / the median rank's: 1.0 when the ranks kept pace."""
    times = rank_times_s(rank_samples_ns)
    if not times or min(times) <= 0:
        raise ValueError("every rank needs positive step times")
    return max(times) / float(np.median(times))


def compute_straggler_ratio(rank_compute_ns: Sequence[Sequence[float]]) -> float:
    """How much slower the slowest rank computes than the others: its median compute step
    / the median of the other ranks' (with two ranks, slowest / fastest), from steps each
    rank ran without the all-reduce; 1.0 when the ranks are equally fast. (The timed steps
    of a synchronous data-parallel step include the wait in the all-reduce, so every
    rank's equals the slowest one's and their ratio is about 1.0 whatever the speeds.)"""
    medians = sorted(float(np.median(np.asarray(r, dtype=np.float64)))
                     for r in rank_compute_ns if len(r))
    if len(medians) < 2 or len(medians) != len(rank_compute_ns) or medians[0] <= 0:
        raise ValueError("every rank (at least two) needs positive compute times")
    return medians[-1] / float(np.median(medians[:-1]))


def scaling_efficiency(throughput_n: float, throughput_1: float, ranks: int) -> float:
    """Throughput with `ranks` processes / (`ranks` x throughput with one): 1.0 is linear."""
    if ranks < 1 or not throughput_1 > 0:
        raise ValueError("scaling efficiency needs ranks >= 1 and a positive baseline")
    return throughput_n / (ranks * throughput_1)
