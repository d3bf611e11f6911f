"""Parsing and validating command-line values; every problem is one UsageError line."""
from __future__ import annotations

from typing import Iterable

from suite.errors import UsageError


def parse_names(text: str, option: str, valid: Iterable[str],
                aliases: dict[str, str] | None = None) -> list[str]:
    """A comma list of names, each one of `valid` (or an alias); order kept, duplicates dropped."""
    valid = list(valid)
    aliases = aliases or {}
    names: list[str] = []
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UsageError(f"{option}: malformed list {text!r}; expected e.g. "
                         f"{','.join(valid[:2])}; valid: {', '.join(valid)}")
    for item in items:
        name = aliases.get(item.lower(), item.lower())
        if name == "all":
            names.extend(n for n in valid if n not in names)
            continue
        if name not in valid:
            raise UsageError(f"{option}: unknown value {item!r}; valid: {', '.join(valid)}")
        if name not in names:
            names.append(name)
    return names


def parse_ints(text: str, option: str, minimum: int = 1) -> list[int]:
    """A comma list of integers and ranges ("1,2,4", "1-8", "1-8,16"), sorted, unique."""
    values: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                values.update(range(lo, hi + 1))
            else:
                values.add(int(part))
        except ValueError:
            raise UsageError(f"{option}: malformed list {text!r}; expected integers and "
                             f"ranges like 1,2,4 or 1-8") from None
    low = min(values)
    if low < minimum:
        raise UsageError(f"{option}: {low} is below the minimum {minimum}")
    return sorted(values)


def parse_choice(value: str, option: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    if value not in valid:
        raise UsageError(f"{option}: unknown value {value!r}; valid: {', '.join(valid)}")
    return value


def check_positive(value: float, option: str, upper: float | None = None) -> float:
    if not value > 0 or (upper is not None and value >= upper):
        bound = f" and below {upper:g}" if upper is not None else ""
        raise UsageError(f"{option}: {value:g} must be above 0{bound}")
    return value
