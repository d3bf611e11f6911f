"""The measurement loop: cold start, warm-up until steady, then adaptive stopping.

Methodology (CONTRACT §7): the first step is timed alone (cold start: compilation,
autotuning, first allocations). Warm-up then runs in windows of at least
`warmup_window` (≥ 5) steps and `warmup_window_min_s` seconds until two consecutive
windows have medians within 10% of each other and at least `warmup_min_iterations` steps
have run (training asks for more, so the allocator and the oneDNN/XLA caches settle), or
until the warm-up budget `warmup_max_s` is spent. Timed steps then run in blocks until at
least `min_iterations` steps (always, even past `max_time_s`) and `min_time_s` have passed
and the 95% CIs of both figures a point reports — the median step time and the throughput
(Σ items / Σ time) — are within ±precision, or until `max_time_s` / `max_items` is reached.

Budget by steps as well as by seconds: a point with fewer than `min_steps` timed steps
when `max_time_s` or `max_items` runs out keeps going (a large batch gets too few steps in
a fixed time for its CIs to close) until it has them, its precision is reached, or the
hard cap `cap_time_s` of timed seconds is spent. A point that has its `min_steps` but not
its precision when the budget runs out goes on too, but only when the steps its CIs need
(they narrow as 1/sqrt(steps)) fit under the cap at its step time so far: a point that
will get there is given the time, a hopeless one stops at the budget. The cap is what
bounds a sweep's cost.

Every decision (steadiness, stopping, the precision flag) looks at the samples chosen by
`suite.stats.timed_samples`: the device's when the timer gives CUDA-event times, else the
host's; and, for a timer that runs steps in windows (one synchronisation per window), at
the throughput of the windows. The time budgets count what the user waits for: host time,
or the windows' wall time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from suite import stats
from suite.timing import Step, Timed, Timer

if TYPE_CHECKING:
    from suite.energy import Meter

NS = 1_000_000_000
MIN_WARMUP_WINDOW = 5
TRAIN_WARMUP_STEPS = 20     # training: allocator growth, optimizer state, oneDNN/XLA caches


@dataclass(frozen=True)
class LoopSettings:
    """Stopping rules of one point."""

    precision: float = 0.02          # CI half-width of median and throughput, relative
    min_time_s: float = 1.0
    max_time_s: float = 10.0
    min_iterations: int = 10
    max_items: int | None = None     # training: images of one pass over --samples
    warmup_window: int = MIN_WARMUP_WINDOW   # steps per warm-up window (at least 5)
    warmup_window_min_s: float = 0.05        # and at least this long, so fast steps agree
    warmup_max_s: float = 10.0               # the warm-up's time budget
    warmup_min_iterations: int = 2 * MIN_WARMUP_WINDOW   # the runner asks more for training
    min_steps: int = 0               # timed steps that win over max_time_s / max_items ...
    cap_time_s: float | None = None  # ... up to this many timed seconds (None: max_time_s)

    def cap_s(self) -> float:
        """The hard limit of timed seconds (past `min_iterations`)."""
        return max(self.max_time_s, self.cap_time_s or 0.0)


@dataclass
class LoopResult:
    samples_ns: list[int] = field(default_factory=list)
    device_samples_ns: list[int] | None = None
    window_ns: list[int] | None = None        # the timed steps' windows (see suite.timing)
    window_steps: list[int] | None = None
    cold_start_ns: int = 0
    warmup_iterations: int = 0
    warmup_steady: bool = False
    precision_reached: bool = False
    stop_reason: str = ""
    energy_joules: float | None = None   # the meter's joules over the timed blocks (None:
    energy_seconds: float = 0.0          #   no meter, or not readable) and the timer's
    #   seconds between its two readings (see run_loop)


def _basis(timed: Timed) -> np.ndarray:
    """The samples decisions are made on (see `suite.stats.timed_samples`)."""
    return np.asarray(stats.timed_samples(timed.host_ns, timed.device_ns)[0])


def run_loop(step: Step, timer: Timer, items_per_step: int, s: LoopSettings,
             meter: Meter | None = None) -> LoopResult:
    """Measure `step` (already synchronous or synchronised by the timer) under rules `s`.

    With a `meter`, its cumulative joules are read right before the first timed block and
    right after the last (every block ends synchronised, so the device's work is done):
    cold start and warm-up are not counted. The seconds are the timer's clock between the
    two readings, so they cover the same interval as the joules, the few checks between
    blocks included.
    """
    result = LoopResult()
    # Cold start is what a caller waits for the first step: host time (with windows, the
    # one-step window's wall time: the step and its synchronisation), as documented.
    result.cold_start_ns = timer.run(step, 1).wall_ns()
    _warm_up(step, timer, s, result)
    start_j = meter.joules() if meter is not None else None
    start_ns = timer.now_ns() if meter is not None else 0
    host: list[np.ndarray] = []
    device: list[np.ndarray] = []
    windows: list[Timed] = []
    spent_ns = 0
    count = 0
    block = max(1, s.min_iterations)
    while True:
        # The minimum iteration count comes first: no time budget until it is reached.
        todo = block if count >= s.min_iterations else s.min_iterations - count
        # past the budget (or short of min_steps) only the cap limits a block
        extended = count < s.min_steps or bool(_budget(spent_ns, count * items_per_step, s))
        limit_s = s.cap_s() if extended else s.max_time_s
        remaining_ns = 0 if count < s.min_iterations else int(limit_s * NS) - spent_ns
        if s.max_items and not extended:
            todo = min(todo, max(1, -(-(s.max_items - count * items_per_step) // items_per_step)))
        elif count < s.min_steps and count >= s.min_iterations:
            todo = min(todo, s.min_steps - count)
        timed = timer.run(step, todo, max(1, remaining_ns) if count >= s.min_iterations else 0)
        host.append(timed.host_ns)
        if timed.device_ns is not None:
            device.append(timed.device_ns)
        if timed.window_ns is not None:
            windows.append(timed)
        spent_ns += timed.wall_ns()
        count += len(timed.host_ns)
        basis = np.concatenate(device) if device else np.concatenate(host)
        reason = _stop_reason(basis, _windows(windows), spent_ns, count * items_per_step, s)
        if reason:
            result.stop_reason = reason
            break
        # Grow blocks geometrically so checking the CI stays cheap for fast steps.
        block = min(max(block, count // 2), 100_000)
    if meter is not None:
        result.energy_seconds = (timer.now_ns() - start_ns) / NS
        end_j = meter.joules()
        if start_j is not None and end_j is not None:
            result.energy_joules = end_j - start_j
    result.samples_ns = [int(v) for v in np.concatenate(host)]
    if device:
        result.device_samples_ns = [int(v) for v in np.concatenate(device)]
    if windows:
        result.window_ns, result.window_steps = (list(w) for w in _windows(windows))
    result.precision_reached = stats.precision_reached(basis, s.precision, s.min_iterations,
                                                       windows=_windows(windows))
    return result


def _windows(blocks: list[Timed]) -> tuple[list[int], list[int]] | None:
    """The windows of the timed blocks, (wall ns, steps) each; None without windows."""
    if not blocks:
        return None
    return ([int(v) for b in blocks for v in b.window_ns],
            [int(v) for b in blocks for v in b.window_steps])


def _window_steps(s: LoopSettings, last_median_ns: float | None) -> int:
    """Steps in the next warm-up window: at least `warmup_window` (≥ 5), and enough to
    last `warmup_window_min_s` at the last window's median step time."""
    steps = max(MIN_WARMUP_WINDOW, s.warmup_window)
    if last_median_ns and last_median_ns > 0:
        steps = max(steps, math.ceil(s.warmup_window_min_s * NS / last_median_ns))
    return min(steps, 100_000)


def _warm_up(step: Step, timer: Timer, s: LoopSettings, result: LoopResult) -> None:
    """Run warm-up windows until two consecutive medians agree within 10% after at least
    `warmup_min_iterations` steps, or the budget is spent (see the module docstring)."""
    budget_ns = int(s.warmup_max_s * NS)
    medians: list[float] = []
    spent_ns = count = 0
    while spent_ns < budget_ns:
        timed = timer.run(step, _window_steps(s, medians[-1] if medians else None),
                          budget_ns - spent_ns)
        spent_ns += timed.wall_ns()
        count += len(timed.host_ns)
        medians.append(float(np.median(_basis(timed))))
        if len(medians) >= 2 and count >= s.warmup_min_iterations and \
                stats.medians_agree(medians[-2], medians[-1]):
            result.warmup_steady = True
            break
    result.warmup_iterations = count


def _budget(spent_ns: int, items: int, s: LoopSettings) -> str:
    """Which of the time and items budgets is spent ("" for neither)."""
    return "max-time" if spent_ns >= s.max_time_s * NS else \
        "samples" if s.max_items and items >= s.max_items else ""


def _stop_reason(samples: np.ndarray, windows: stats.Windows | None, spent_ns: int, items: int,
                 s: LoopSettings) -> str:
    if len(samples) < s.min_iterations:
        return ""
    budget = _budget(spent_ns, items, s)
    timed_enough = spent_ns >= s.min_time_s * NS
    if not timed_enough and not budget:
        return ""
    # one CI computation serves both decisions: precise yet, and within reach of the cap
    achieved = stats.achieved_precision(samples, windows=windows)
    if timed_enough and achieved <= s.precision:
        return "precision"
    if not budget:
        return ""
    if len(samples) >= s.min_steps and not _precision_fits_under_cap(len(samples), achieved,
                                                                      spent_ns, s):
        return budget
    # too few steps for the CIs, or a precision within reach: on, up to the hard cap
    return "time-cap" if spent_ns >= s.cap_s() * NS else ""


def _precision_fits_under_cap(steps: int, achieved: float, spent_ns: int,
                              s: LoopSettings) -> bool:
    """Would the steps the CIs need to narrow from `achieved` to the precision fit under the
    cap, at the time per step so far?"""
    needed = stats.steps_for_precision(steps, achieved, s.precision)
    return spent_ns / steps * needed <= s.cap_s() * NS
