"""How many digits a figure deserves: a value and its CI as text for people."""
from __future__ import annotations

import math


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


def effect_text(pct: float) -> str:
    """A detectable effect as text: "3.1%", or as a factor once it passes 2x ("14.7x"),
    where a percentage in the thousands reads as noise rather than as a resolution."""
    if not math.isfinite(pct):
        return "no finite effect"
    return f"{pct:.1f}%" if pct < 100.0 else f"{1.0 + pct / 100.0:.3g}x"
