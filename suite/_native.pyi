"""suite._native: the pybind11 C++ extension (csrc/). Timing, memory sampling, CPU placement."""
from typing import Callable

import numpy as np

# ---- clock
def now_ns() -> int:
    """Monotonic steady clock (CLOCK_MONOTONIC via std::chrono::steady_clock), nanoseconds."""
def clock_resolution_ns(samples: int = 1000) -> int:
    """Smallest non-zero difference observed between consecutive clock reads."""
def clock_overhead_ns(samples: int = 100000) -> float:
    """Mean cost of one clock read, in nanoseconds."""
def busy_wait_ns(duration_ns: int) -> int:
    """Spin (GIL released) for at least `duration_ns`; returns the measured duration."""

# ---- iteration timing (steady clock)
def time_calls(fn: Callable[[], object], iterations: int, budget_ns: int = 0,
               sync: Callable[[], object] | None = None) -> np.ndarray:
    """Call `fn` (then `sync`, if given) up to `iterations` times, stopping early once
    `budget_ns` (> 0) of timed time has passed; per-iteration durations as int64 ns."""
def loop_overhead_ns(iterations: int = 100000) -> float:
    """Per-iteration cost of time_calls on an empty built-in callable, in ns."""

# ---- CUDA (driver API loaded at run time from libcuda.so.1)
def cuda_available() -> bool: ...
def cuda_unavailable_reason() -> str:
    """One line saying why CUDA is unavailable ('' when available)."""
def cuda_device_count() -> int: ...
def cuda_driver_version() -> int: ...
def cuda_device_name(device: int = 0) -> str: ...

class CudaEventTimer:
    """Start/stop CUDA event pairs recorded on a caller-given stream, read after one sync."""
    def __init__(self, capacity: int, device: int = 0) -> None: ...
    def record_start(self, stream: int = 0) -> None: ...
    def record_stop(self, stream: int = 0) -> None: ...
    def elapsed_ns(self) -> np.ndarray:
        """Synchronize on the last stop event, then each pair's elapsed time (int64 ns)."""
    def reset(self) -> None: ...
    def __len__(self) -> int: ...

def time_calls_cuda(fn: Callable[[], object], iterations: int, stream: int = 0,
                    device: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Events around each call of `fn` on `stream`; returns (host ns per call incl. a final
    sync spread over nothing, device ns per call). One synchronisation at the end."""

# ---- memory
def rss_bytes() -> int:
    """Current resident set size of this process (from /proc/self/statm)."""
def peak_rss_bytes() -> int:
    """Peak RSS of this process since start (VmHWM)."""
def device_memory_used_bytes(device: int = 0) -> int:
    """Device-wide used memory (total - free), -1 without CUDA."""

class MemorySampler:
    """A native thread sampling RSS (and device memory) every `interval_us`; no GIL needed."""
    def __init__(self, interval_us: int = 1000, device: int = -1) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> dict:
        """Keys: peak_rss_bytes, baseline_rss_bytes, samples, interval_us, elapsed_ns,
        peak_device_bytes, baseline_device_bytes (-1 without device)."""
    @property
    def running(self) -> bool: ...

# ---- CPU placement
def set_affinity(cpus: list[int]) -> None:
    """Pin this thread (and threads created after) to `cpus` (sched_setaffinity)."""
def get_affinity() -> list[int]: ...
def numa_node_count() -> int: ...
def set_membind(nodes: list[int]) -> None:
    """Bind future allocations of this thread to NUMA `nodes` (set_mempolicy MPOL_BIND)."""
def get_mempolicy() -> tuple[int, list[int]]:
    """(mode, nodes) of this thread's memory policy."""
