"""The measurement loop: cold start, warm-up until steady, then adaptive stopping.

Methodology (CONTRACT §7): the first step is timed alone (cold start: compilation,
autotuning, first allocations). Warm-up runs until two consecutive windows of steps have
medians within 10% of each other (or the warm-up budget is spent). Timed steps then run in
blocks until at least `min_iterations` steps (always, even past `max_time_s`) and
`min_time_s` have passed and the 95% CI of
the median is within ±precision, or until `max_time_s` / `max_items` is reached.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from suite import stats
from suite.timing import Step, Timer

NS = 1_000_000_000


@dataclass(frozen=True)
class LoopSettings:
    """Stopping rules of one point."""

    precision: float = 0.02          # CI half-width of the median, relative
    min_time_s: float = 1.0
    max_time_s: float = 10.0
    min_iterations: int = 10
    max_items: int | None = None     # training: images of one pass over --samples
    warmup_window: int = 5
    warmup_max_s: float = 10.0
    warmup_min_iterations: int = 2


@dataclass
class LoopResult:
    samples_ns: list[int] = field(default_factory=list)
    device_samples_ns: list[int] | None = None
    cold_start_ns: int = 0
    warmup_iterations: int = 0
    warmup_steady: bool = False
    precision_reached: bool = False
    stop_reason: str = ""


def run_loop(step: Step, timer: Timer, items_per_step: int, s: LoopSettings) -> LoopResult:
    """Measure `step` (already synchronous or synchronised by the timer) under rules `s`."""
    result = LoopResult()
    result.cold_start_ns = int(timer.run(step, 1).host_ns[0])
    _warm_up(step, timer, s, result)
    host: list[np.ndarray] = []
    device: list[np.ndarray] = []
    spent_ns = 0
    count = 0
    block = max(1, s.min_iterations)
    while True:
        # The minimum iteration count comes first: no time budget until it is reached.
        remaining_ns = 0 if count < s.min_iterations else int(s.max_time_s * NS) - spent_ns
        todo = block if count >= s.min_iterations else s.min_iterations - count
        if s.max_items:
            todo = min(todo, max(1, -(-(s.max_items - count * items_per_step) // items_per_step)))
        timed = timer.run(step, todo, max(1, remaining_ns) if count >= s.min_iterations else 0)
        host.append(timed.host_ns)
        if timed.device_ns is not None:
            device.append(timed.device_ns)
        spent_ns += int(timed.host_ns.sum())
        count += len(timed.host_ns)
        samples = np.concatenate(host)
        reason = _stop_reason(samples, spent_ns, count * items_per_step, s)
        if reason:
            result.stop_reason = reason
            break
        # Grow blocks geometrically so checking the CI stays cheap for fast steps.
        block = min(max(block, count // 2), 100_000)
    result.samples_ns = [int(v) for v in samples]
    if device:
        result.device_samples_ns = [int(v) for v in np.concatenate(device)]
    basis = result.device_samples_ns or result.samples_ns
    result.precision_reached = stats.precision_reached(basis, s.precision, s.min_iterations)
    return result


def _warm_up(step: Step, timer: Timer, s: LoopSettings, result: LoopResult) -> None:
    samples: list[int] = []
    spent = 0
    while spent < s.warmup_max_s * NS:
        timed = timer.run(step, 1)
        samples.append(int(timed.host_ns[0]))
        spent += samples[-1]
        if len(samples) >= s.warmup_min_iterations and \
                stats.is_steady(samples, window=min(s.warmup_window, max(1, len(samples) // 2))):
            result.warmup_steady = True
            break
    result.warmup_iterations = len(samples)


def _stop_reason(samples: np.ndarray, spent_ns: int, items: int, s: LoopSettings) -> str:
    if len(samples) < s.min_iterations:
        return ""
    if spent_ns >= s.max_time_s * NS:
        return "max-time"
    if s.max_items and items >= s.max_items:
        return "samples"
    if len(samples) >= s.min_iterations and spent_ns >= s.min_time_s * NS and \
            stats.precision_reached(samples, s.precision, s.min_iterations):
        return "precision"
    return ""
