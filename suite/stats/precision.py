"""When a point is precise enough: the achieved precision of its CIs, the steps and the
processes that would reach a target, and the warm-up's steadiness rule."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from suite.stats.distributions import t_quantile
from suite.stats.intervals import (Windows, _relative_half, _step_time_and_ci,
                                   percentile_ci, split_processes, split_windows,
                                   usable_windows)


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
        if t_quantile(0.5 + confidence / 2, k - 1) * spread / math.sqrt(k) <= target:
            return k
    return math.inf


def precision_reached(samples: Sequence[float], precision: float, min_samples: int = 10,
                      samples_per_process: Sequence[int] | None = None,
                      windows: Windows | None = None) -> bool:
    """True when the 95% CIs of both the median and the throughput are within ±precision
    (a fraction, e.g. 0.02) and there are at least `min_samples` samples."""
    return len(samples) >= min_samples and \
        achieved_precision(samples, samples_per_process, windows) <= precision


def medians_agree(previous: float, last: float, tolerance: float = 0.10) -> bool:
    """Two consecutive warm-up windows' medians are within `tolerance` of the earlier one."""
    return abs(last - previous) <= tolerance * previous
