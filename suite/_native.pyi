"""suite._native: the pybind11 C++ extension (csrc/). Timing, memory sampling, NVML facts,
CPU placement."""
from typing import Callable, Sequence

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
    `budget_ns` (> 0) of timed time has passed; per-iteration durations as int64 ns.
    The clock is read right before `fn` and right after `sync` (GIL held, no
    allocation in the loop); exceptions from `fn`/`sync` propagate."""
def loop_overhead_ns(iterations: int = 100000) -> float:
    """Per-iteration cost of time_calls on an empty built-in callable, in ns
    (median recorded duration of `noop`: the floor under every time_calls sample)."""
def noop() -> None:
    """Do nothing and return None (an empty built-in callable)."""

# ---- CUDA (driver API loaded at run time from libcuda.so.1)
# Without a driver every CUDA function and class raises RuntimeError carrying
# cuda_unavailable_reason(), except the two memory queries, which return -1.
def cuda_available() -> bool:
    """True when libcuda.so.1 loads, cuInit succeeds and a device is visible."""
def cuda_unavailable_reason() -> str:
    """One line saying why CUDA is unavailable ('' when available)."""
def cuda_device_count() -> int:
    """Number of visible CUDA devices."""
def cuda_driver_version() -> int:
    """CUDA driver API version (e.g. 12040 for 12.4)."""
def cuda_device_name(device: int = 0) -> str:
    """Name of CUDA device `device`."""

class CudaEventTimer:
    """Start/stop CUDA event pairs recorded on a caller-given stream, read after one sync."""
    def __init__(self, capacity: int, device: int = 0) -> None:
        """Preallocate `capacity` event pairs on `device`'s primary context."""
    def record_start(self, stream: int = 0) -> None:
        """Record the next pair's start event on `stream` (an integer CUstream handle)."""
    def record_stop(self, stream: int = 0) -> None:
        """Record the open pair's stop event on `stream`."""
    def elapsed_ns(self) -> np.ndarray:
        """Synchronize on the last stop event, then each pair's elapsed time (int64 ns)."""
    def reset(self) -> None:
        """Forget recorded pairs (events are reused)."""
    @property
    def capacity(self) -> int:
        """Number of pairs."""
    def __len__(self) -> int:
        """Number of completed pairs."""

def time_calls_cuda(fn: Callable[[], object], iterations: int, stream: int = 0,
                    device: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """One window of calls: events around each call of `fn` on `stream`; returns (host
    ns per call: the call alone by the steady clock, device ns per call: from the
    events, window ns: wall time from the first call to the end of the one
    synchronisation, at the end)."""
def cuda_stream_create(device: int = 0, non_blocking: bool = True) -> int:
    """A new CUDA stream in `device`'s primary context, as an integer CUstream handle
    (never destroyed: it lives as long as the process)."""

# ---- NVML (libnvidia-ml.so.1 loaded at run time; never raises: failures are data)
def nvml_unavailable_reason() -> str:
    """One line saying why NVML is unusable ('' when libnvidia-ml.so.1 loaded and
    nvmlInit_v2 succeeded)."""
def nvml_gpus() -> list[dict]:
    """Every GPU NVML sees, in NVML (PCI bus) order, as dicts: index, name, uuid,
    memory_total_bytes, mig_enabled, driver_version, cuda_driver_version (e.g.
    12040); a field whose query failed is None. Empty without NVML."""
def nvml_total_energy_mj(device: int = 0) -> tuple[int, str]:
    """(millijoules, '') from NVML's total-energy counter of CUDA device `device`
    (since the driver loaded; Volta and later), or (-1, why it cannot be read)."""

# ---- memory
def rss_bytes() -> int:
    """Current resident set size of this process (from /proc/self/statm)."""
def peak_rss_bytes() -> int:
    """Peak RSS of this process (VmHWM) since start or the last reset_peak_rss()."""
def reset_peak_rss() -> bool:
    """Set VmHWM to the current RSS (/proc/self/clear_refs); False where not allowed."""
def device_memory_used_bytes(device: int = 0) -> int:
    """Device-wide used memory (total - free), -1 without CUDA."""
def device_process_memory_bytes(device: int = 0) -> int:
    """Device memory used by this process (NVML), -1 when CUDA or NVML is unavailable."""

class MemorySampler:
    """A native thread sampling RSS (and device memory) every `interval_us`; no GIL needed."""
    def __init__(self, interval_us: int = 1000, device: int = -1,
                 cpus: Sequence[int] = ()) -> None:
        """Sampler of RSS and, when `device` >= 0 and CUDA is available, device memory
        (device-wide and, from NVML, this process's); its thread runs on `cpus` when
        given (else where the caller may run)."""
    def start(self) -> None:
        """Reset VmHWM, take the baseline sample and start the sampling thread."""
    def stop(self) -> dict:
        """Stop and join the thread, take a last sample. Keys: peak_rss_bytes (VmHWM
        since start() where peak_rss_from_kernel, else the largest sample),
        baseline_rss_bytes, samples, interval_us, elapsed_ns, peak_device_bytes,
        baseline_device_bytes (device-wide used memory, -1 without device),
        peak_process_device_bytes, baseline_process_device_bytes (this process's
        device memory from NVML, -1 where unavailable), peak_rss_from_kernel,
        thread_cpu_ns (CPU time of the sampling thread)."""
    @property
    def running(self) -> bool:
        """True between start() and stop()."""

# ---- CPU placement
MPOL_DEFAULT: int
MPOL_PREFERRED: int
MPOL_BIND: int
MPOL_INTERLEAVE: int
MPOL_LOCAL: int

def set_affinity(cpus: list[int]) -> None:
    """Pin this thread (and threads created after) to `cpus` (sched_setaffinity)."""
def get_affinity() -> list[int]:
    """CPUs this thread may run on."""
def fma_peak(threads: int, seconds: float = 0.2) -> tuple[float, str]:
    """(GFLOP/s, ISA): the FMA units' float32 limit with `threads` threads (inheriting this
    thread's affinity) over about `seconds`, the best of short rounds. ISA is "avx512f",
    "avx2+fma" or "generic". Releases the GIL."""
def numa_node_count() -> int:
    """Number of NUMA nodes (sysfs)."""
def set_membind(nodes: list[int]) -> None:
    """Bind future allocations of this thread to NUMA `nodes` (set_mempolicy MPOL_BIND)."""
def reset_mempolicy() -> None:
    """Restore this thread's default memory policy (set_mempolicy MPOL_DEFAULT)."""
def get_mempolicy() -> tuple[int, list[int]]:
    """(mode, nodes) of this thread's memory policy."""
