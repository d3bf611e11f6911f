"""suite.stats.distributions: the worker's quantiles from scipy.special agree with
scipy.stats exactly, and a worker's measuring code does not import scipy.stats."""
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sp

from suite.stats.distributions import binom_quantile, t_cdf, t_quantile


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 10, 33, 60, 101, 500, 2048, 100_000])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9, 0.99, 0.999])
def test_binomial_quantiles_are_scipy_stats(n, q):
    for level in (0.0, 1e-9, 0.005, 0.025, 0.05, 0.5, 0.95, 0.975, 0.995, 1.0):
        assert binom_quantile(level, n, q) == int(sp.binom.ppf(level, n, q)), (level, n, q)


def test_t_quantiles_are_scipy_stats():
    for df in (1, 2, 3, 4, 7, 29, 30, 120, 1e6, 2.5):
        for p in (0.5, 0.8, 0.9, 0.95, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(float(sp.t.ppf(p, df)), rel=1e-12)


def test_t_cdf_is_scipy_stats():
    for df in (1, 2, 3, 7, 30, 1e6, 2.5):
        for x in (-5.0, -1.0, 0.0, 0.3, 1.96, 4.3):
            assert t_cdf(x, df) == pytest.approx(float(sp.t.cdf(x, df)), rel=1e-12, abs=1e-15)


def test_the_workers_measuring_code_leaves_scipy_stats_unimported():
    code = ("import sys, numpy as np, suite.measure, suite.energy, suite.workerlib, suite.stats\n"
            "x = np.random.default_rng(1).gamma(5, 1e6, 500)\n"
            "suite.stats.summarize(x, 1, 1e9, [250, 250])\n"
            "print(sorted(m for m in ('scipy.stats', 'scipy.optimize', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
