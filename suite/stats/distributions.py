"""The distribution functions the statistics need, from `scipy.special`.

`scipy.stats` costs about 0.5 s to import, and every worker process imported it for
`t.ppf` and `binom.ppf` alone (docs/harness.md, "Where a BERT-base process's time goes");
`scipy.special` holds the same functions for a fifth of that. Both follow scipy.stats'
own definitions exactly (tests/test_stats_distributions.py checks them against it), so no
interval moves.
"""
from __future__ import annotations

import math

from scipy import special as _special


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (scipy.stats.t.ppf)."""
    return float(_special.stdtrit(df, p))


def t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with `df` degrees of freedom (scipy.stats.t.cdf)."""
    return float(_special.stdtr(df, x))


def binom_quantile(q: float, n: int, p: float) -> int:
    """The q-quantile of Binomial(n, p): the least k with P(X <= k) >= q
    (scipy.stats.binom.ppf: the inverse from `bdtrik`, stepped down by one where the CDF
    already reaches q there)."""
    if q <= 0.0:
        return -1
    if q >= 1.0:
        return n
    k = math.ceil(float(_special.bdtrik(q, n, p)))
    below = max(k - 1, 0)
    # a CDF that equals q exactly (Binomial(7, 0.5) at 3 is 1/2) comes out of `bdtr` a
    # rounding error below it: within 1e-12 counts as reaching q, as scipy.stats has it
    return below if float(_special.bdtr(below, n, p)) >= q * (1.0 - 1e-12) else k
