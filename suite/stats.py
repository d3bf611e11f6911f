"""Statistics derived from raw per-iteration samples. Pure functions; no framework imports.

Percentiles use linear interpolation between order statistics (Hyndman & Fan type 7,
numpy's default "linear" method). The confidence interval of the median is the
distribution-free one from binomial order statistics, so it holds for the skewed,
multi-modal latency distributions benchmarks produce. The confidence interval of the
throughput (Σ items / Σ time, a mean) is a batch-means t-interval (see `throughput_ci`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _sp

PERCENTILE_METHOD = "linear (Hyndman-Fan type 7)"
NS_PER_MS = 1e6
NS_PER_S = 1e9


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (binomial order statistics).

    Returns (low, high); with fewer than 6 samples no 95% interval exists and the
    sample range is returned instead (a wide, honest interval).
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    alpha = 1.0 - confidence
    # Largest j with P(B < j) <= alpha/2 for B ~ Binomial(n, 1/2): x[j-1], x[n-j] bracket the median.
    j = int(_sp.binom.ppf(alpha / 2, n, 0.5))
    while j > 0 and _sp.binom.cdf(j - 1, n, 0.5) > alpha / 2:
        j -= 1
    if j < 1:
        return float(x[0]), float(x[-1])
    return float(x[j - 1]), float(x[n - j])


def throughput_ci(samples_ns: Sequence[float], items_per_step: int,
                  confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the throughput Σ items / Σ time in items/s, by batch means.

    With a fixed batch, throughput is items_per_step / mean step time, so the interval is
    that of the mean step time, turned around. Successive steps are correlated (caches,
    clock boost, allocator state), so the mean's standard error comes from contiguous
    batches of steps, not from single steps: the samples are split into k = n // 5
    batches (2 to 20), and the interval is mean ± t(k-1) · sd(batch means) / √k. Its time
    bounds are clipped to the fastest and slowest step (the mean cannot lie outside them),
    which keeps both bounds finite when the batches disagree wildly. One sample gives no
    interval: (throughput, throughput).
    """
    x = np.asarray(samples_ns, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    mean_ns = float(x.mean())
    low_ns = high_ns = mean_ns
    if x.size > 1:
        k = min(20, max(2, x.size // 5))
        batch_means = np.array([b.mean() for b in np.array_split(x, k)])
        half = float(_sp.t.ppf(0.5 + confidence / 2, k - 1) * batch_means.std(ddof=1)
                     / math.sqrt(k))
        low_ns, high_ns = max(mean_ns - half, float(x.min())), min(mean_ns + half, float(x.max()))
    per_s = items_per_step * NS_PER_S
    return per_s / high_ns, per_s / low_ns


def ci_relative_half_width(samples: Sequence[float], confidence: float = 0.95) -> float:
    """Largest distance from the median to a CI bound, relative to the median."""
    med = float(np.median(samples))
    lo, hi = median_ci(samples, confidence)
    if med <= 0:
        return math.inf
    return max(med - lo, hi - med) / med


def precision_reached(samples: Sequence[float], precision: float, min_samples: int = 10) -> bool:
    """True when the 95% CI of the median is within +-precision (a fraction, e.g. 0.02)."""
    return len(samples) >= min_samples and ci_relative_half_width(samples) <= precision


@dataclass(frozen=True)
class Summary:
    """Latency and throughput figures of one point, all derived from the raw samples."""

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
    items_per_second: float
    items_per_second_ci_low: float
    items_per_second_ci_high: float
    gflops_per_second: float | None
    percentile_method: str = PERCENTILE_METHOD

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(samples_ns: Sequence[int], items_per_step: int,
              flops_per_item: float | None = None) -> Summary:
    """All figures of CONTRACT §7 from per-step durations in ns.

    Throughput is items processed / total timed time (sum of batch / sum of step time).
    `flops_per_item` counts floating-point operations (2 x multiply-adds) per item.
    Raises ValueError when the result would not be positive and finite.
    """
    x = np.asarray(samples_ns, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("samples must be positive and finite")
    total_s = float(x.sum()) / NS_PER_S
    items = items_per_step * x.size
    ms = x / NS_PER_MS
    lo, hi = median_ci(ms)
    gflops = None if not flops_per_item else flops_per_item * items / total_s / 1e9
    tp_low, tp_high = throughput_ci(x, items_per_step)
    s = Summary(
        iterations=int(x.size), total_time_s=total_s,
        median_ms=float(np.median(ms)), mean_ms=float(ms.mean()),
        min_ms=float(ms.min()), max_ms=float(ms.max()),
        std_ms=float(ms.std(ddof=1)) if x.size > 1 else 0.0,
        p90_ms=float(np.percentile(ms, 90)), p99_ms=float(np.percentile(ms, 99)),
        ci_low_ms=lo, ci_high_ms=hi,
        ci_relative_half_width=ci_relative_half_width(ms),
        items_per_second=items / total_s, items_per_second_ci_low=tp_low,
        items_per_second_ci_high=tp_high, gflops_per_second=gflops,
    )
    _check_sane(s)
    return s


def _check_sane(s: Summary) -> None:
    for name in ("median_ms", "mean_ms", "min_ms", "max_ms", "items_per_second"):
        v = getattr(s, name)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"derived figure {name}={v!r} is not positive and finite")
    if s.gflops_per_second is not None and not (math.isfinite(s.gflops_per_second)
                                                and s.gflops_per_second > 0):
        raise ValueError(f"derived GFLOP/s {s.gflops_per_second!r} is not positive and finite")


def is_steady(samples_ns: Sequence[int], window: int = 5, tolerance: float = 0.10) -> bool:
    """Warm-up check: the last `window` samples' median is within `tolerance` of the
    previous window's median (compilation, autotuning and allocator growth are over)."""
    if len(samples_ns) < 2 * window:
        return False
    last = float(np.median(samples_ns[-window:]))
    prev = float(np.median(samples_ns[-2 * window:-window]))
    return abs(last - prev) <= tolerance * prev


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of positive ratios (the right average for speed ratios)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or np.any(v <= 0):
        raise ValueError("geometric mean needs positive values")
    return float(np.exp(np.log(v).mean()))


def compare_samples(a_ns: Sequence[float], b_ns: Sequence[float]) -> tuple[float, float]:
    """(ratio of medians b/a, two-sided Mann-Whitney U p-value) for two sample sets."""
    a = np.asarray(a_ns, dtype=np.float64)
    b = np.asarray(b_ns, dtype=np.float64)
    ratio = float(np.median(b) / np.median(a))
    if len(a) < 2 or len(b) < 2:
        return ratio, 1.0
    p = float(_sp.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return ratio, p
