"""Comparing points and runs (block figures, Welch tests, geometric means) and the
data-parallel figures of a point's ranks."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from suite.stats.intervals import COMPARE_BLOCKS, NS_PER_S, split_processes


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
    from scipy import stats as sp   # 0.5 s to import: not in every worker
    p = float(sp.ttest_ind(fa, fb, equal_var=False).pvalue)
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
