"""Statistics derived from raw samples (suite.stats)."""
import math
import numpy as np
import pytest
from scipy import stats as sp

from suite import stats


def test_median_ci_matches_binomial_coverage():
    x = np.arange(1, 101, dtype=float)  # n = 100: the 95% order-statistic interval is x(40), x(61)
    lo, hi = stats.median_ci(x)
    assert (lo, hi) == (40.0, 61.0)
    # coverage of [x(j), x(n-j+1)] is P(j <= B <= n-j) for B ~ Bin(n, 1/2)
    j, n = 40, 100
    assert sp.binom.cdf(n - j, n, 0.5) - sp.binom.cdf(j - 1, n, 0.5) >= 0.95


def test_median_ci_of_too_few_samples_is_open():
    """Three samples hold no 95% interval of the median: not their range, which covers 75%."""
    assert stats.median_ci([3.0, 1.0, 2.0]) == (-math.inf, math.inf)


def test_summarize_throughput_is_items_over_total_time():
    samples = [10_000_000, 30_000_000]          # 10 ms and 30 ms, batch 4
    s = stats.summarize(samples, items_per_step=4, flops_per_item=1e9)
    assert s.items_per_second == pytest.approx(8 / 0.040)   # not 4 / mean(...) of something else
    assert s.median_ms == pytest.approx(20.0)
    assert s.min_ms == 10.0 and s.max_ms == 30.0
    assert s.gflops_per_second == pytest.approx(1e9 * 8 / 0.040 / 1e9)
    assert s.percentile_method.startswith("linear")


def test_summarize_percentiles_linear_interpolation():
    s = stats.summarize([i * 1_000_000 for i in range(1, 11)], 1)
    assert s.p90_ms == pytest.approx(9.1)
    assert s.p99_ms == pytest.approx(9.91)


@pytest.mark.parametrize("bad", [[], [0, 5], [-1, 3], [float("nan"), 1]])
def test_summarize_rejects_insane_samples(bad):
    with pytest.raises(ValueError):
        stats.summarize(bad, 1)


def test_precision_reached_needs_tight_interval():
    rng = np.random.default_rng(1)
    tight = rng.normal(100, 0.5, 200)
    loose = rng.normal(100, 40, 20).clip(1)
    assert stats.precision_reached(tight, 0.02)
    assert not stats.precision_reached(loose, 0.02)
    assert not stats.precision_reached(tight[:5], 0.02)  # too few samples


def test_geometric_mean_and_compare():
    assert stats.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    a = rng.normal(100, 1, 50)
    ratio, p, basis = stats.compare_samples(a, a * 1.2)
    assert ratio == pytest.approx(1.2, rel=1e-9) and p < 1e-6 and basis == "10+10 blocks"
    _, p_same, _ = stats.compare_samples(a, rng.normal(100, 1, 50))
    assert p_same > 0.05


def ar1(rng: np.random.Generator, n: int, rho: float = 0.9, level: float = 10e6) -> np.ndarray:
    """Step times whose noise is autocorrelated (clock boost, caches): AR(1), 1% sd."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = rho * x[i - 1] + np.sqrt(1 - rho ** 2) * e[i]
    return level * (1 + 0.01 * x)


def test_compare_of_identical_autocorrelated_runs_is_rarely_significant():
    """Per-step tests treat 500 correlated steps as 500 independent ones and call identical
    code "significantly different" far more often than alpha; per-block figures do not."""
    rng = np.random.default_rng(8)
    pairs = [(ar1(rng, 500), ar1(rng, 500)) for _ in range(200)]
    block_hits = sum(stats.compare_samples(a, b)[1] < 0.05 for a, b in pairs)
    step_hits = sum(sp.mannwhitneyu(a, b).pvalue < 0.05 for a, b in pairs)
    assert block_hits / len(pairs) <= 0.10
    assert step_hits / len(pairs) > 0.3          # what a per-step test would have claimed


def test_compare_uses_per_process_figures_when_both_have_them():
    rng = np.random.default_rng(9)
    # three processes per run, each at its own level (memory layout, placement): 2% apart
    levels_a, levels_b = [1.00, 1.02, 0.98], [1.01, 0.99, 1.03]
    a = np.concatenate([ar1(rng, 100, level=10e6 * v) for v in levels_a])
    b = np.concatenate([ar1(rng, 100, level=10e6 * v) for v in levels_b])
    ratio, p, basis = stats.compare_samples(a, b, [100] * 3, [100] * 3)
    assert basis == "3+3 processes" and p > 0.05
    assert ratio == pytest.approx(b.mean() / a.mean())
    assert stats.compare_samples(a, b)[2] == "10+10 blocks"


def test_timed_samples_rule():
    assert stats.timed_samples([3, 4], [1, 2]) == ([1, 2], "device")
    assert stats.timed_samples([3, 4], None) == ([3, 4], "host")
    assert stats.timed_samples([3, 4], []) == ([3, 4], "host")


def test_point_summary_uses_device_samples_when_present():
    from suite.spec import Measurement, PointSpec
    spec = PointSpec(task="infer", framework="pytorch", optimization="none", model="resnet18",
                     batch_size=2, input_size=32, device="cuda")
    m = Measurement(spec, samples_ns=[20_000_000] * 20, device_samples_ns=[10_000_000] * 20,
                    items_per_step=2)
    s = stats.point_summary(m)
    assert s.basis == "device" and s.median_ms == 10.0 and s.items_per_second == 200.0


def test_quantile_ci_covers_p90_and_p99():
    rng = np.random.default_rng(10)
    true90, true99 = sp.expon.ppf(0.90), sp.expon.ppf(0.99)
    hits90 = hits99 = 0
    for _ in range(300):
        x = rng.exponential(1.0, 400)
        lo, hi = stats.quantile_ci(x, 0.90)
        hits90 += lo <= true90 <= hi
        lo, hi = stats.quantile_ci(x, 0.99)
        hits99 += lo <= true99 <= hi
    assert hits90 / 300 >= 0.93 and hits99 / 300 >= 0.93
    s = stats.summarize([int(v * 1e6) for v in rng.exponential(1.0, 400) + 1], 1)
    assert s.p90_ci_low_ms <= s.p90_ms <= s.p90_ci_high_ms
    assert s.p99_ci_low_ms <= s.p99_ms <= s.p99_ci_high_ms


def test_process_spread_widens_every_interval():
    """Three processes, each steady but at its own level: the within-process CI is narrow
    and misses the spread; the point's CI covers it."""
    rng = np.random.default_rng(11)
    levels = [10e6, 10.6e6, 9.7e6]
    x = np.concatenate([lv * (1 + 0.001 * rng.standard_normal(200)) for lv in levels])
    one = stats.summarize(x, 1)
    three = stats.summarize(x, 1, samples_per_process=[200, 200, 200])
    assert three.processes == 3 and one.processes == 1
    per_process_tp = [1e9 / lv for lv in levels]
    assert three.items_per_second_ci_low < min(per_process_tp) * 1.02
    assert three.items_per_second_ci_high > max(per_process_tp) * 0.98
    alone = stats.summarize(x[:200], 1)              # what one process would have claimed
    assert three.items_per_second_ci_relative_half_width > \
        10 * alone.items_per_second_ci_relative_half_width
    assert three.ci_relative_half_width > 10 * alone.ci_relative_half_width
    assert three.achieved_precision > 0.02 > alone.achieved_precision
    # never narrower than the within-process interval
    noisy = np.concatenate([10e6 * (1 + 0.2 * rng.standard_normal(50).clip(-3, 3))
                            for _ in range(3)])
    a, b = stats.summarize(noisy, 1), stats.summarize(noisy, 1, samples_per_process=[50] * 3)
    assert b.items_per_second_ci_low <= a.items_per_second_ci_low and \
        b.items_per_second_ci_high >= a.items_per_second_ci_high


def test_process_spread_is_the_larger_of_the_medians_and_the_step_times_spread():
    levels = [10e6, 10.6e6, 9.7e6]
    x = np.concatenate([np.full(20, lv) for lv in levels])
    expected = np.std(levels, ddof=1) / np.mean(levels)
    assert stats.process_spread(x, [20, 20, 20]) == pytest.approx(expected)
    assert stats.process_spread(x, None) == 0.0
    # one slow step in the first process moves its mean, not its median
    y = x.copy()
    y[0] = 40e6
    means = [y[:20].mean(), 10.6e6, 9.7e6]
    assert stats.process_spread(y, [20, 20, 20]) == pytest.approx(
        np.std(means, ddof=1) / np.mean(means))
    # with windows, the step time is each process's Σ window time / Σ steps
    windows = ([4 * 10e6] * 5 + [4 * 10.6e6] * 5 + [4 * 9.7e6] * 5, [4] * 15)
    assert stats.process_spread(x, [20, 20, 20], windows) == pytest.approx(expected)


@pytest.mark.parametrize("spread, target, expected", [
    (0.0, 0.02, 2), (0.01, 0.02, 4), (0.015, 0.02, 5), (0.03, 0.02, 12)])
def test_processes_for_precision_is_the_fewest_whose_t_interval_fits(spread, target, expected):
    k = stats.processes_for_precision(spread, target)
    assert k == expected
    half = lambda n: sp.t.ppf(0.975, n - 1) * spread / np.sqrt(n)  # noqa: E731
    assert half(k) <= target and (k == 2 or half(k - 1) > target)


def test_processes_for_precision_has_no_answer_for_a_hopeless_spread():
    assert stats.processes_for_precision(0.5, 0.001, limit=50) == float("inf")
    assert stats.processes_for_precision(float("nan"), 0.02) == float("inf")
    assert stats.processes_for_precision(0.01, 0.0) == float("inf")


@pytest.mark.parametrize("value, low, high, text", [
    (123.456, 119.3, 127.5, "123 ± 4"),
    (1234.5, 1197.0, 1270.0, "1230 ± 40"),
    (0.4567, 0.4432, 0.4689, "0.457 ± 0.014"),
    (25.1234, 24.98, 25.27, "25.12 ± 0.15"),
    (98.76, 98.0, 99.9, "98.8 ± 1.1"),
    (100.0, 100.0, 100.0, "100"),                 # no interval: three significant figures
    (62.5, 35.7, 250.0, "60 [40, 250]"),          # lopsided: both bounds
    (0.93, 0.26, 41.0, "0.9 [0.3, 40]"),          # a value far below its CI's width
    (60.0, 0.6, 3000.0, "60 [0.6, 3000]"),        # no bound rounds to 0
    (52.0, 51.95, 52.4, "52.00 [51.95, 52.4]"),   # each bound to its own distance
])
def test_ci_text_rounds_to_what_the_interval_supports(value, low, high, text):
    assert stats.ci_text(value, low, high) == text


def test_rounded_to_ci_rounds_bounds_alike():
    assert stats.rounded_to_ci(123.456, 119.3, 127.5) == ("123", "119", "128")
    assert stats.rounded_to_ci(7.0, 7.0, 7.0) == ("7.00", None, None)


def test_throughput_ci_brackets_items_over_total_time():
    samples = [10_000_000, 12_000_000] * 20              # 10 ms and 12 ms, batch 4
    s = stats.summarize(samples, 4)
    lo, hi, point = s.items_per_second_ci_low, s.items_per_second_ci_high, s.items_per_second
    assert point == pytest.approx(4 / 0.011)
    assert lo < point < hi
    flat = stats.summarize([5_000_000] * 30, 2)                         # no spread, no width
    assert (flat.items_per_second_ci_low, flat.items_per_second_ci_high) == (400.0, 400.0)


def _throughput_ci(samples_ns, items_per_step):
    """The throughput CI a point's summary states (Σ items / Σ time)."""
    s = stats.summarize(samples_ns, items_per_step)
    return s.items_per_second_ci_low, s.items_per_second_ci_high


def test_throughput_ci_covers_the_true_throughput():
    rng = np.random.default_rng(3)
    true = 8 / 0.010                                     # batch 8, mean step 10 ms
    hits = 0
    for _ in range(400):
        x = rng.gamma(25.0, 0.4e6, 100)                  # mean 10 ms, skewed
        lo, hi = _throughput_ci(x, 8)
        hits += lo <= true <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_throughput_ci_widens_for_drift_between_batches():
    """Batch means see a level shift that a per-step interval would treat as noise."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(10e6, 1e6, 50), rng.normal(12e6, 1e6, 50)])
    lo, hi = _throughput_ci(x, 1)
    mean_s = x.mean() / 1e9
    per_step_half = sp.t.ppf(0.975, 99) * x.std(ddof=1) / np.sqrt(100) / 1e9
    assert hi - lo > 1.5 * (1 / (mean_s - per_step_half) - 1 / (mean_s + per_step_half))


def test_throughput_ci_stays_finite_when_batches_disagree_wildly():
    lo, hi = _throughput_ci([1_000_000, 100_000_000], 1)   # 1 ms and 100 ms
    assert (lo, hi) == pytest.approx((10.0, 1000.0))            # clipped to the step range


def test_widened_percentile_ci_stays_within_the_samples():
    """Three processes far apart: the t-interval reaches below zero, the CI does not."""
    x = [1e6] * 20 + [30e6] * 20 + [8e6] * 20
    lo, hi = stats.percentile_ci(x, 50, samples_per_process=[20, 20, 20])
    assert lo == 1e6 and hi == 30e6


def test_quantile_cis_cover_at_their_level_or_say_they_are_open():
    """A p99 needs about 300 samples for its upper bound: below that the bound is open
    (+inf, shown "≥ x"), never the largest sample (a clipped p99 covered 37% at n = 50)."""
    rng = np.random.default_rng(7)
    true = {q: float(np.exp(sp.norm.ppf(q))) for q in (0.5, 0.9, 0.99)}  # lognormal
    for n in (20, 50, 100, 200, 400, 1000):
        for q in (0.5, 0.9, 0.99):
            hits = closed = 0
            for _ in range(1500):
                low, high = stats.quantile_ci(rng.lognormal(size=n), q)
                if math.isinf(high) or math.isinf(low):
                    continue
                closed += 1
                hits += low <= true[q] <= high
            upper_rank = sp.binom.ppf(0.975, n, q) + 1
            assert (closed == 0) == (upper_rank > n), (n, q, closed)
            if closed:
                assert hits / closed >= 0.93, (n, q, hits / closed)
    assert stats.quantile_ci(np.arange(1.0, 51.0), 0.99)[1] == math.inf
    assert stats.ci_text(12.3, 11.0, math.inf) == "12.3 [≥ 11.0]"
    summary = stats.summarize([1_000_000 + 1000 * k for k in range(50)], 1)
    assert summary.p99_ci_high_ms == math.inf and summary.to_dict()["p99_ci_high_ms"] is None


def test_a_detectable_effect_reads_as_a_percentage_then_as_a_factor():
    assert stats.effect_text(3.14) == "3.1%" and stats.effect_text(99.9) == "99.9%"
    assert stats.effect_text(1372.1) == "14.7x" and stats.effect_text(9.8e9) == "9.8e+07x"
    assert stats.effect_text(float("nan")) == "no finite effect"


@pytest.mark.parametrize("n_a,n_b", [(3, 3), (5, 5), (8, 8), (3, 8), (8, 3)])
def test_replication_capture_is_how_often_a_reruns_mean_lands_in_the_interval(n_a, n_b):
    """The closed form against reruns simulated with no drift between the runs, through
    the very t-interval a point's processes get (stats._t_half via the widened interval)."""
    rng = np.random.default_rng(n_a * 10 + n_b)
    a, b = rng.normal(size=(40_000, n_a)), rng.normal(size=(40_000, n_b))
    half = sp.t.ppf(0.975, n_a - 1) * a.std(axis=1, ddof=1) / math.sqrt(n_a)
    simulated = float(np.mean(np.abs(b.mean(axis=1) - a.mean(axis=1)) < half))
    assert stats.replication_capture(n_a, n_b) == pytest.approx(simulated, abs=0.006)


def test_a_95_percent_interval_holds_a_reruns_figure_less_often_as_processes_grow():
    capture = [stats.replication_capture(n, n) for n in (3, 4, 5, 8, 20)]
    assert capture == sorted(capture, reverse=True)
    assert capture[0] == pytest.approx(0.907, abs=0.001)     # 3 processes: just over 90%
    assert capture[3] == pytest.approx(0.862, abs=0.001)     # 8: below 90%
    big = stats.replication_capture(100_000, 100_000)        # Cumming & Maillardet: 83.4%
    assert big == pytest.approx(2 * sp.norm.cdf(1.959964 / math.sqrt(2)) - 1, abs=1e-4)
    assert math.isnan(stats.replication_capture(1, 3))
