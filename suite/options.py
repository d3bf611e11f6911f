"""Parsing and validating command-line values; every problem is one UsageError line."""
from __future__ import annotations

import math
from typing import Any, Iterable

from suite.errors import UsageError


def parse_names(text: str, option: str, valid: Iterable[str],
                aliases: dict[str, str] | None = None,
                everything: Iterable[str] | None = None) -> list[str]:
    """A comma list of names, each one of `valid` (or an alias); order kept, duplicates dropped.
    `all` stands for `everything` (default: every valid name)."""
    valid = list(valid)
    everything = valid if everything is None else list(everything)
    aliases = aliases or {}
    names: list[str] = []
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UsageError(f"{option}: malformed list {text!r}; expected e.g. "
                         f"{','.join(valid[:2])}; valid: {', '.join(valid)}")
    for item in items:
        name = aliases.get(item.lower(), item.lower())
        if name == "all":
            names.extend(n for n in everything if n not in names)
            continue
        if name not in valid:
            raise UsageError(f"{option}: unknown value {item!r}; valid: {', '.join(valid)}")
        if name not in names:
            names.append(name)
    return names


# Upper bounds of integer lists: a value frameworks can index with 32-bit integers, and a
# list a sweep can still run (a typo like 1-100000 is refused instead of expanded).
MAX_INT = 2**31 - 1
MAX_VALUES = 4096


def parse_ints(text: str, option: str, minimum: int = 1, maximum: int = MAX_INT) -> list[int]:
    """A comma list of integers and ranges ("1,2,4", "1-8", "1-8,16"), sorted, unique, each
    within [minimum, maximum], at most MAX_VALUES of them."""
    bounds: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
            else:
                lo = hi = int(part)
        except ValueError:
            raise UsageError(f"{option}: malformed list {text!r}; expected integers and "
                             f"ranges like 1,2,4 or 1-8") from None
        bounds.append((lo, hi))
    low, high = min(lo for lo, _ in bounds), max(hi for _, hi in bounds)
    if low < minimum:
        raise UsageError(f"{option}: {low} is below the minimum {minimum}")
    if high > maximum:
        raise UsageError(f"{option}: {high} is above the maximum {maximum}")
    if sum(hi - lo + 1 for lo, hi in bounds) > MAX_VALUES:
        raise UsageError(f"{option}: {text!r} lists more than {MAX_VALUES} values")
    return sorted({v for lo, hi in bounds for v in range(lo, hi + 1)})


def parse_choice(value: str, option: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    if value not in valid:
        raise UsageError(f"{option}: unknown value {value!r}; valid: {', '.join(valid)}")
    return value


def check_positive(value: float, option: str, upper: float | None = None) -> float:
    """`value` if it is a finite number above 0 (and below `upper`)."""
    if not (math.isfinite(value) and value > 0) or (upper is not None and value >= upper):
        bound = f" and below {upper:g}" if upper is not None else ""
        raise UsageError(f"{option}: {value:g} must be a finite number above 0{bound}")
    return value


def check_range(value: float, option: str, low: float, high: float | None = None) -> float:
    """`value` if it is a finite number in [low, high) (high None: no upper bound)."""
    if not (math.isfinite(value) and value >= low and (high is None or value < high)):
        span = f"at least {low:g}" + (f" and below {high:g}" if high is not None else "")
        raise UsageError(f"{option}: {value:g} must be a finite number {span}")
    return value


def add_model_file_arguments(parser: Any) -> None:
    """--model-file and --model-name (CONTRACT §16) on a parser or argument group: the
    same two options on train, infer, serve, tune and models."""
    parser.add_argument("--model-file", action="append", default=[], metavar="PATH.onnx",
                        help="your own model: an ONNX file (opset >= 13) imported into the "
                             "zoo's description and built natively by every framework; "
                             "repeatable (also --models file:PATH)")
    parser.add_argument("--model-name", action="append", default=[], metavar="NAME",
                        help="the name of each --model-file in tables (default: the file's "
                             "stem)")
