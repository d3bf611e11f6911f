"""One timer interface over the native steady clock, CUDA events, and a fake for tests.

A timer runs a step callable up to `iterations` times (or until `budget_ns` of timed time)
and returns per-step host durations and, on CUDA, per-step device durations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

Step = Callable[[], object]


@dataclass
class Timed:
    """Per-step durations of one block of timed steps."""

    host_ns: np.ndarray
    device_ns: np.ndarray | None = None


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
    """CUDA events recorded on the framework's stream around each step, plus host latency
    (the step followed by a synchronisation, so host time is what a caller observes)."""

    def __init__(self, stream: int, sync: Step, device: int = 0) -> None:
        from suite import _native
        if not _native.cuda_available():
            raise RuntimeError(_native.cuda_unavailable_reason())
        self._native = _native
        self._stream = stream
        self._sync = sync
        self._device = device

    def now_ns(self) -> int:
        return self._native.now_ns()

    def run(self, step: Step, iterations: int, budget_ns: int = 0) -> Timed:
        events = self._native.CudaEventTimer(iterations, self._device)
        sync = self._sync

        def timed_step() -> None:
            events.record_start(self._stream)
            step()
            events.record_stop(self._stream)
            sync()

        host = self._native.time_calls(timed_step, iterations, budget_ns, None)
        device = events.elapsed_ns()[: len(host)]
        return Timed(host, device)


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
