"""One timer interface over the native steady clock, CUDA events, and a fake for tests.

A timer runs a step callable up to `iterations` times (or until `budget_ns` of timed time)
and returns per-step host durations and, on CUDA, per-step device durations plus the wall
time of each window of steps (one synchronisation per window).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

Step = Callable[[], object]


@dataclass
class Timed:
    """Per-step durations of one block of timed steps.

    With windows (`CudaEventTimer`), `host_ns` is each call alone (the launch: steps run
    asynchronously), `device_ns` each step's CUDA-event time, and `window_ns[k]` the wall
    time of the k-th window of `window_steps[k]` consecutive steps, from its first call to
    the end of its one synchronisation: what the user waits for, and the throughput's time.
    """

    host_ns: np.ndarray
    device_ns: np.ndarray | None = None
    window_ns: np.ndarray | None = None
    window_steps: np.ndarray | None = None

    def wall_ns(self) -> int:
        """The block's time as a caller waits for it: Σ window time, else Σ host time."""
        return int((self.window_ns if self.window_ns is not None else self.host_ns).sum())


class Timer(Protocol):
    def now_ns(self) -> int: ...
    def run(self, step: Step, iterations: int, budget_ns: int = 0) -> Timed: ...


class NativeTimer:
    """Steady-clock timing driven from C++; `sync` runs inside each timed step."""

    def __init__(self, sync: Step | None = None) -> None:
        from suite import _native
        self._native = _native
        self._sync = sync

    def now_ns(self) -> int:
        return self._native.now_ns()

    def run(self, step: Step, iterations: int, budget_ns: int = 0) -> Timed:
        return Timed(self._native.time_calls(step, iterations, budget_ns, self._sync))


class CudaEventTimer:
    """Steps in windows through the native `time_calls_cuda`: CUDA events recorded on the
    framework's stream around each step (per-step latency), one synchronisation at the end
    of each window (throughput = Σ items / Σ window wall time), so consecutive steps overlap
    as they do in a training or serving loop.

    A window lasts at least `window_min_ns` (judged on the last window's time per step, so
    the synchronisation's bubble stays well under 1%) and holds at most `max_window_steps`
    steps; the budget is checked between windows. `sync` (the framework's own) runs after
    each window, outside the timed time, so no work of a block is left pending.
    """

    def __init__(self, stream: int, sync: Step, device: int = 0,
                 window_min_ns: int = 20_000_000, max_window_steps: int = 1000) -> None:
        from suite import _native
        if not _native.cuda_available():
            raise RuntimeError(_native.cuda_unavailable_reason())
        if not stream:
            raise ValueError("CudaEventTimer needs the framework's stream, not stream 0: "
                             "a framework without one is timed with NativeTimer(sync)")
        self._native = _native
        self._stream = stream
        self._sync = sync
        self._device = device
        self._window_min_ns = window_min_ns
        self._max_window_steps = max_window_steps
        self._step_ns: float | None = None    # wall time per step of the last window

    def now_ns(self) -> int:
        return self._native.now_ns()

    def _window_steps(self, remaining: int) -> int:
        """Steps in the next window: enough to last `window_min_ns`, within the limits."""
        steps = self._max_window_steps
        if self._step_ns:
            steps = min(steps, max(1, math.ceil(self._window_min_ns / self._step_ns)))
        return max(1, min(steps, remaining))

    def run(self, step: Step, iterations: int, budget_ns: int = 0) -> Timed:
        host, device, windows, counts = [], [], [], []
        done = spent_ns = 0
        while done < iterations and not (budget_ns and spent_ns >= budget_ns):
            steps = self._window_steps(iterations - done)
            h, d, window_ns = self._native.time_calls_cuda(step, steps, self._stream,
                                                           self._device)
            self._sync()
            host.append(h)
            device.append(d)
            windows.append(int(window_ns))
            counts.append(steps)
            done += steps
            spent_ns += int(window_ns)
            self._step_ns = max(1.0, window_ns / steps)
        if not host:
            empty = np.zeros(0, dtype=np.int64)
            return Timed(empty, empty.copy(), empty.copy(), empty.copy())
        return Timed(np.concatenate(host), np.concatenate(device),
                     np.asarray(windows, dtype=np.int64), np.asarray(counts, dtype=np.int64))


class FakeTimer:
    """Deterministic timer for tests: step k 'takes' durations[k % len] ns (steps still run)."""

    def __init__(self, durations_ns: Sequence[int]) -> None:
        self._durations = list(durations_ns)
        self._k = 0
        self._now = 0

    def now_ns(self) -> int:
        return self._now

    def run(self, step: Step, iterations: int, budget_ns: int = 0) -> Timed:
        out = []
        spent = 0
        for _ in range(iterations):
            step()
            d = self._durations[self._k % len(self._durations)]
            self._k += 1
            self._now += d
            spent += d
            out.append(d)
            if budget_ns and spent >= budget_ns:
                break
        return Timed(np.asarray(out, dtype=np.int64))


class BlockStarts:
    """A timer that notes when each block of steps began, outside the timed steps: with the
    loop's warm-up count that gives the start of the first timed step."""

    def __init__(self, timer: Any) -> None:
        self.timer, self.blocks = timer, []      # (perf_counter at the start, steps)

    def now_ns(self) -> int:
        return self.timer.now_ns()

    def run(self, step: Any, iterations: int, budget_ns: int = 0) -> Any:
        started = time.perf_counter()
        timed = self.timer.run(step, iterations, budget_ns)
        self.blocks.append((started, len(timed.host_ns)))
        return timed

    def first_timed(self, warmup_iterations: int) -> float | None:
        """The start of the first block after the cold start and the warm-up's steps."""
        count = 0
        for started, steps in self.blocks[1:]:
            if count >= warmup_iterations:
                return started
            count += steps
        return None
