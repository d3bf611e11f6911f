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

Modules: `intervals` (which samples, their CIs), `precision` (when a point is precise
enough), `summary` (every figure of a point), `text` (figures as text for people),
`comparison` (points and runs compared; data-parallel figures).
"""
from __future__ import annotations

from suite.stats.intervals import (
    COMPARE_BLOCKS, NS_PER_MS, NS_PER_S, PERCENTILE_METHOD, Windows, mean_time_ci,
    median_ci, percentile_ci, quantile_ci, replication_capture, split_processes,
    split_windows, timed_samples, usable_windows, window_time_ci)
from suite.stats.precision import (
    achieved_precision, medians_agree, precision_reached, process_spread,
    processes_for_precision, steps_for_precision)
from suite.stats.summary import (
    Summary, meets_precision, point_process_spread, point_summary, summarize)
from suite.stats.text import (
    ci_decimals, ci_text, effect_text, rounded_to_ci, significant)
from suite.stats.comparison import (
    block_figures, compare_samples, compute_straggler_ratio, geometric_mean,
    rank_times_s, scaling_efficiency, straggler_ratio)

__all__ = ["COMPARE_BLOCKS", "NS_PER_MS", "NS_PER_S", "PERCENTILE_METHOD", "Summary",
           "Windows", "achieved_precision", "block_figures", "ci_decimals", "ci_text",
           "compare_samples", "compute_straggler_ratio", "effect_text", "geometric_mean",
           "mean_time_ci",
           "median_ci", "medians_agree", "meets_precision", "percentile_ci",
           "point_process_spread", "point_summary", "precision_reached", "process_spread",
           "processes_for_precision", "quantile_ci", "rank_times_s", "replication_capture",
           "rounded_to_ci",
           "scaling_efficiency", "significant", "split_processes", "split_windows",
           "steps_for_precision", "straggler_ratio", "summarize", "timed_samples",
           "usable_windows", "window_time_ci"]
