"""This machine's float32 peak at each thread count: the FMA units' limit, measured.

A point's achieved GFLOP/s means little alone; beside what the machine can do at the same
thread count it says how much room is left (CONTRACT §7: training counts 3x forward).
`measure_peak` runs one short child process per thread count (`python -m suite.peak`),
pinned to the cores a point with that many threads is pinned to, which measures two
things and keeps the best of repeated rounds of each (a peak is a maximum, not a typical
figure):
- the **peak**: a native loop of independent fused multiply-add chains on the widest
  vectors the CPU has (`suite._native.fma_peak`, csrc/fma_peak.cpp: AVX-512, AVX2+FMA, or
  scalar), one per thread: the physical limit no network can pass;
- for reference, a float32 matrix product through numpy's BLAS at the same threads: what a
  well-tuned SGEMM reaches of that limit (stored as `blas_gflops_by_threads`).
A matrix product alone is not a peak: ONNX Runtime's convolutions here beat OpenBLAS's
512-1024 SGEMM (101-105% of it), but reach 65-70% of the FMA limit.

Each child takes about 0.4 s (less each when a sweep has many thread counts: about 2 s of
measuring in all, at least 0.1 s each), so the figure costs a second or two per run; it is
stored in run.json (`environment["peak"]`) and the report divides every point's GFLOP/s by
it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Iterable

MEASURE_S = 0.3           # timed seconds per thread count, shared by the sizes below ...
TOTAL_S = 2.0             # ... less when many thread counts would take longer than this
MIN_MEASURE_S = 0.1       # (but never less than this each)
SIZES = (512, 1024)       # square sizes tried; the best result counts
PEAK_KEY = "peak"         # environment["peak"] in run.json
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS")


def _blas_name() -> str:
    """numpy's BLAS as "openblas64 0.3.23" (or "unknown BLAS")."""
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()
    except Exception:   # numpy builds differ in what they expose; the figure still counts
        return "unknown BLAS"


def best_gflops(seconds: float = MEASURE_S, sizes: Iterable[int] = SIZES) -> float:
    """The best float32 GFLOP/s of repeated n x n products (2n³ FLOPs each), in this process."""
    import numpy as np
    sizes = list(sizes)
    rng = np.random.default_rng(0)
    best = 0.0
    for n in sizes:
        a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
        out = np.empty((n, n), dtype=np.float32)
        np.matmul(a, b, out=out)     # first call: thread pool start-up, page faults
        deadline = time.perf_counter() + seconds / len(sizes)
        while True:
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            elapsed = time.perf_counter() - start
            best = max(best, 2.0 * n ** 3 / elapsed / 1e9)
            if start + elapsed >= deadline:
                break
    return best


def fma_gflops(threads: int, seconds: float = MEASURE_S) -> tuple[float, str]:
    """(GFLOP/s, vector ISA) of the native FMA loop on `threads` threads, in this process."""
    from suite import _native
    gflops, isa = _native.fma_peak(threads, seconds)
    return float(gflops), str(isa)


def _child(threads: int, cpus: list[int], seconds: float) -> dict[str, Any]:
    """The measurement in a child process: pinned, the BLAS thread count set before import."""
    fma, isa = fma_gflops(threads, seconds / 2)
    blas = best_gflops(seconds / 2)
    return {"threads": threads, "gflops": max(fma, blas), "fma_gflops": fma, "isa": isa,
            "blas_gflops": blas, "library": _blas_name(), "cpus": cpus}


def seconds_each(count: int) -> float:
    """Timed seconds per thread count: MEASURE_S, less for many counts (TOTAL_S in all)."""
    return max(MIN_MEASURE_S, min(MEASURE_S, TOTAL_S / max(1, count)))


def measure_one(threads: int, cpus: list[int], seconds: float = MEASURE_S,
                timeout_s: float = 30.0) -> dict[str, Any]:
    """Run the child for one thread count; {"error": ...} when it fails."""
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARIABLES})
    command = [sys.executable, "-m", "suite.peak", str(threads), ",".join(map(str, cpus)),
               str(seconds)]
    try:
        out = subprocess.run(command, env=env, capture_output=True, text=True,
                             timeout=timeout_s)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        return {"threads": threads, "error": f"peak measurement failed: {e}"}


def measure_peak(thread_counts: Iterable[int],
                 cpus_for: Callable[[int], list[int]]) -> dict[str, Any]:
    """The peak at each distinct thread count, as stored in run.json:
    {"gflops_by_threads": {"1": 140.2, ...}, "method": "...", "errors": {...}}."""
    by_threads: dict[str, float] = {}
    blas_by_threads: dict[str, float] = {}
    errors: dict[str, str] = {}
    library, isa = "unknown BLAS", "unknown"
    counts = sorted({int(t) for t in thread_counts if int(t) > 0})
    seconds = seconds_each(len(counts))
    for threads in counts:
        result = measure_one(threads, cpus_for(threads), seconds)
        if "error" in result or not result.get("gflops", 0) > 0:
            errors[str(threads)] = str(result.get("error", "no figure"))
            continue
        by_threads[str(threads)] = round(float(result["gflops"]), 1)
        blas_by_threads[str(threads)] = round(float(result.get("blas_gflops", 0.0)), 1)
        library, isa = result.get("library", library), result.get("isa", isa)
    method = (f"the FMA units' float32 limit: a native loop of independent fused "
              f"multiply-add chains ({isa}) on every thread, best of {seconds / 2:g} s of "
              f"rounds per thread count, pinned to the cores the points use; for reference, "
              f"numpy's BLAS ({library}) float32 matrix product reaches "
              f"{_figures_text(blas_by_threads)}")
    peak: dict[str, Any] = {"gflops_by_threads": by_threads, "method": method,
                            "blas_gflops_by_threads": blas_by_threads}
    if errors:
        peak["errors"] = errors
    return peak


def peak_text(peak: dict[str, Any] | None) -> str:
    """"148.6 GFLOP/s at 1 thread, 225.1 GFLOP/s at 2 threads" (or "not measured")."""
    return _figures_text((peak or {}).get("gflops_by_threads") or {})


def _figures_text(by_threads: dict[str, float]) -> str:
    return ", ".join(f"{float(g):g} GFLOP/s at {t} thread{'' if str(t) == '1' else 's'}"
                     for t, g in by_threads.items()) or "not measured"


def peak_gflops(peak: dict[str, Any] | None, threads: int) -> float | None:
    """The peak at a thread count, or None where it was not measured there.

    A machine's peak does not fall with more cores: a lower figure at more threads than
    at fewer means the machine was busy while it was measured, so the largest figure at
    this many threads or fewer counts."""
    figures = {int(t): float(g) for t, g in
               ((peak or {}).get("gflops_by_threads") or {}).items() if g}
    if int(threads) not in figures:
        return None
    return max(g for t, g in figures.items() if t <= int(threads))


def percent_of_peak(achieved_gflops: float | None, peak: float | None) -> float | None:
    """Achieved GFLOP/s as a % of the peak; None where either is unknown."""
    if not achieved_gflops or not peak or peak <= 0:
        return None
    return 100.0 * float(achieved_gflops) / float(peak)


if __name__ == "__main__":
    # The child: pin first (the BLAS thread pool inherits the affinity), then import numpy.
    _threads = int(sys.argv[1])
    _cpus = [int(c) for c in sys.argv[2].split(",") if c]
    if _cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, _cpus)
    print(json.dumps(_child(_threads, _cpus, float(sys.argv[3]))))
