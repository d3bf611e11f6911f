"""Statistics derived from raw samples (suite.stats)."""
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


def test_median_ci_small_sample_falls_back_to_range():
    assert stats.median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)


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


def test_is_steady_detects_warmup_tail():
    assert not stats.is_steady([50, 40, 30, 20, 10, 9, 8, 7, 6, 5])
    assert stats.is_steady([50, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10])


def test_geometric_mean_and_compare():
    assert stats.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    a = rng.normal(100, 1, 50)
    ratio, p = stats.compare_samples(a, a * 1.2)
    assert ratio == pytest.approx(1.2, rel=1e-9) and p < 1e-6
    _, p_same = stats.compare_samples(a, rng.permutation(a))
    assert p_same > 0.5


def test_throughput_ci_brackets_items_over_total_time():
    samples = [10_000_000, 12_000_000] * 20              # 10 ms and 12 ms, batch 4
    lo, hi = stats.throughput_ci(samples, items_per_step=4)
    point = stats.summarize(samples, 4).items_per_second
    assert point == pytest.approx(4 / 0.011)
    assert lo < point < hi
    s = stats.summarize(samples, 4)
    assert (s.items_per_second_ci_low, s.items_per_second_ci_high) == (lo, hi)
    assert stats.throughput_ci([5_000_000] * 30, 2) == (400.0, 400.0)   # no spread, no width
    assert stats.throughput_ci([5_000_000], 2) == (400.0, 400.0)        # one sample: no interval


def test_throughput_ci_covers_the_true_throughput():
    rng = np.random.default_rng(3)
    true = 8 / 0.010                                     # batch 8, mean step 10 ms
    hits = 0
    for _ in range(400):
        x = rng.gamma(25.0, 0.4e6, 100)                  # mean 10 ms, skewed
        lo, hi = stats.throughput_ci(x, 8)
        hits += lo <= true <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_throughput_ci_widens_for_drift_between_batches():
    """Batch means see a level shift that a per-step interval would treat as noise."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(10e6, 1e6, 50), rng.normal(12e6, 1e6, 50)])
    lo, hi = stats.throughput_ci(x, 1)
    mean_s = x.mean() / 1e9
    per_step_half = sp.t.ppf(0.975, 99) * x.std(ddof=1) / np.sqrt(100) / 1e9
    assert hi - lo > 1.5 * (1 / (mean_s - per_step_half) - 1 / (mean_s + per_step_half))


def test_throughput_ci_stays_finite_when_batches_disagree_wildly():
    lo, hi = stats.throughput_ci([1_000_000, 100_000_000], 1)   # 1 ms and 100 ms
    assert (lo, hi) == pytest.approx((10.0, 1000.0))            # clipped to the step range
