"""A fake CUDA for the GPU paths of the worker, the timers and the report, without a GPU.

`FakeCuda.install(monkeypatch)` makes `suite._native` report CUDA available and replaces
its CUDA event timer, its windowed `time_calls_cuda` and its memory sampler by recording
fakes: a test can then see on which stream every event was recorded, how steps were
grouped into windows, and feed the worker a sampler result of its choosing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite import _native
from suite.spec import PointSpec

MIB = 1 << 20


@dataclass
class FakeCuda:
    """What the fake native module saw and what it reports."""

    step_device_ns: int = 2_000_000      # each step's CUDA-event time
    step_wall_ns: int = 1_500_000        # each step's share of a window (steps overlap)
    sampler_result: dict[str, int] = field(default_factory=dict)
    event_streams: list[int] = field(default_factory=list)   # every record_start/stop
    windows: list[int] = field(default_factory=list)         # steps of each timed window

    def install(self, monkeypatch: Any) -> "FakeCuda":
        monkeypatch.setattr(_native, "cuda_available", lambda: True)
        monkeypatch.setattr(_native, "cuda_unavailable_reason", lambda: "")
        monkeypatch.setattr(_native, "CudaEventTimer", self._event_timer_class())
        monkeypatch.setattr(_native, "time_calls_cuda", self.time_calls_cuda)
        monkeypatch.setattr(_native, "MemorySampler", self._sampler_class())
        # On a machine with a real GPU the energy meter would read the real NVML counter
        # (and synchronise the fake runnable once more for its idle baseline).
        monkeypatch.setattr(_native, "nvml_total_energy_mj",
                            lambda device=0: (-1, "fake CUDA: no energy counter"))
        return self

    def time_calls_cuda(self, fn: Any, iterations: int, stream: int = 0,
                        device: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """One window: events on `stream` around each call, one synchronisation."""
        for _ in range(iterations):
            self.event_streams.append(stream)
            fn()
            self.event_streams.append(stream)
        self.windows.append(iterations)
        host = np.full(iterations, 10_000, dtype=np.int64)
        device_ns = np.full(iterations, self.step_device_ns, dtype=np.int64)
        return host, device_ns, iterations * self.step_wall_ns

    def _event_timer_class(self) -> type:
        streams = self.event_streams

        class EventTimer:
            def __init__(self, capacity: int, device: int = 0) -> None:
                self.pairs = 0

            def record_start(self, stream: int = 0) -> None:
                streams.append(stream)

            def record_stop(self, stream: int = 0) -> None:
                streams.append(stream)
                self.pairs += 1

            def elapsed_ns(self) -> np.ndarray:
                return np.full(self.pairs, 1_000_000, dtype=np.int64)

        return EventTimer

    def _sampler_class(self) -> type:
        fake = self

        class Sampler:
            def __init__(self, interval_us: int = 1000, device: int = -1, cpus=()) -> None:
                self.device = device

            def start(self) -> None: ...

            def stop(self) -> dict[str, int]:
                result = {"peak_rss_bytes": 900 * MIB, "baseline_rss_bytes": 800 * MIB,
                          "samples": 10, "peak_rss_from_kernel": True,
                          "peak_device_bytes": -1, "baseline_device_bytes": -1,
                          "peak_process_device_bytes": -1,
                          "baseline_process_device_bytes": -1}
                return dict(result, **fake.sampler_result) if self.device >= 0 else result

        return Sampler


class FakeRunnable:
    """A built network whose steps do nothing; `stream` is what stream_handle() gives."""

    def __init__(self, stream: int | None, allocator_mib: dict[str, float] | None = None):
        self.stream = stream
        self.steps = self.syncs = 0
        self.allocator_mib = allocator_mib or {}

    def step(self) -> None:
        self.steps += 1

    def synchronize(self) -> None:
        self.syncs += 1

    def stream_handle(self) -> int | None:
        return self.stream

    def param_count(self) -> int:
        return 0

    def memory_mib(self) -> dict[str, float]:
        return dict(self.allocator_mib)


LOOP = {"precision": 0.5, "min_time_s": 0.01, "max_time_s": 0.05, "min_iterations": 5,
        "warmup_max_s": 0.02}
SETTINGS = {"loop": LOOP, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}


def gpu_spec(framework: str = "pytorch", batch: int = 8, task: str = "infer") -> PointSpec:
    return PointSpec(task, framework, "none", "resnet18", batch, 32, device="cuda")


def run_fake_point(monkeypatch: Any, runnable: FakeRunnable, spec: PointSpec | None = None):
    """A CUDA point through the worker's production path (`run_point`), the build replaced
    by `runnable`."""
    from suite import worker
    monkeypatch.setattr(worker, "build_runnable", lambda adapter, model, spec, cfg, **kw: runnable)
    return worker.run_point(adapter=None, spec=spec or gpu_spec(), settings=SETTINGS)
