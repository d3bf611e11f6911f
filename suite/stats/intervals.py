"""Which samples a point's figures come from, and their confidence intervals: order
statistics for percentiles, batch means for the mean step time, windows on a GPU."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from suite.stats.distributions import binom_quantile, t_cdf, t_quantile

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
    low = binom_quantile(alpha / 2, n, q)
    high = binom_quantile(1 - alpha / 2, n, q) + 1
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
    return float(t_quantile(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def replication_capture(n_a: int, n_b: int, confidence: float = 0.95) -> float:
    """How often a rerun's mean of `n_b` figures lands inside this run's t-interval of the
    mean of `n_a` figures, when both runs draw from the same normal distribution: no drift
    between them, nothing but the figures' own spread (Cumming & Maillardet 2006, "where
    will the next mean fall?"). NaN below two figures in this run or one in the rerun.

    The rerun's mean differs from this run's by N(0, sigma^2 (1/n_a + 1/n_b)), and the
    interval's half-width is t * s_a / sqrt(n_a) with s_a independent of both means, so
    the rerun lands inside with probability P(|T_{n_a-1}| < t / sqrt(1 + n_a / n_b)):
    90.8% for 3 and 3, 86.3% for 8 and 8, 83.4% as both grow. A 95% interval is not a
    95% interval for a rerun's figure."""
    if n_a < 2 or n_b < 1:
        return math.nan
    t = t_quantile(0.5 + confidence / 2, n_a - 1)
    return 2.0 * t_cdf(t / math.sqrt(1.0 + n_a / n_b), n_a - 1) - 1.0


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
        half = t_quantile(0.5 + confidence / 2, k - 1) * se
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
