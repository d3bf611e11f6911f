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

The same key holds a GPU's peak on a `--device cuda` run (`suite.gpu_peak`, shape
{"kind": "gpu", "gflops_by_dtype": {...}, ...}). Every % of peak - the report's, the
console's, the estimate's step times - comes from `point_peak_gflops`, which picks the
figure a point is divided by (its device, dtype and ranks) or says why there is none.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from suite.spec import PointSpec

MEASURE_S = 0.3           # timed seconds per thread count, shared by the sizes below ...
TOTAL_S = 2.0             # ... less when many thread counts would take longer than this
MIN_MEASURE_S = 0.1       # (but never less than this each)
SIZES = (512, 1024)       # square sizes tried; the best result counts
PEAK_KEY = "peak"         # environment["peak"] in run.json
REUSE_ENV, REUSE_VALUE = "DLBENCH_PEAK", "cached"   # reuse the kept peak, do not probe
CPU_KIND, GPU_KIND = "cpu", "gpu"   # peak["kind"]; a peak without one (older runs) is a CPU's
# The CPU instructions that run a dtype faster than the float32 FMA units: where a CPU has
# them, the float32 limit bounds nothing for that dtype (stored in the peak as "cpu_flags").
DTYPE_CPU_FLAGS = {"bfloat16": ("avx512_bf16", "amx_bf16"),
                   "float16": ("avx512_fp16", "amx_fp16")}
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


def measure_peak(thread_counts: Iterable[int], cpus_for: Callable[[int], list[int]],
                 remember: bool = True) -> dict[str, Any]:
    """The peak at each distinct thread count, as stored in run.json:
    {"gflops_by_threads": {"1": 140.2, ...}, "method": "...", "errors": {...}}; with
    `remember`, the best of this probe and the machine's kept readings (`remembered`)."""
    by_threads: dict[str, float] = {}
    blas_by_threads: dict[str, float] = {}
    errors: dict[str, str] = {}
    library, isa = "unknown BLAS", "unknown"
    counts = sorted({int(t) for t in thread_counts if int(t) > 0})
    if remember and os.environ.get(REUSE_ENV, "").strip().lower() == REUSE_VALUE:
        kept = kept_peak(counts, cpus_for)
        if kept is not None:
            return kept
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
    peak: dict[str, Any] = {"kind": CPU_KIND, "gflops_by_threads": by_threads,
                            "method": method, "blas_gflops_by_threads": blas_by_threads,
                            "cpu_flags": cpu_dtype_flags()}
    if errors:
        peak["errors"] = errors
    return remembered(peak, cpus_for) if remember and by_threads else peak


def _keys(counts: Iterable[int], cpus_for: Callable[[int], list[int]]) -> dict[str, str]:
    """Each thread count's key in the kept readings (`suite.peak_cache.machine_key`)."""
    from suite import peak_cache
    from suite.env import cpu_model, frequency_info
    host = {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), **frequency_info()}
    return {str(t): peak_cache.machine_key(host, int(t), cpus_for(int(t))) for t in counts}


def kept_peak(counts: Iterable[int], cpus_for: Callable[[int], list[int]]
              ) -> dict[str, Any] | None:
    """The peak from this machine's kept readings alone, None unless every count has some
    (``DLBENCH_PEAK=cached``: the test suite's sweeps reuse the peak instead of probing)."""
    from suite import peak_cache
    path = peak_cache.cache_file()
    best = peak_cache.reused(_keys(counts, cpus_for), peak_cache.load(path))
    if best is None:
        return None
    return {"kind": CPU_KIND, "gflops_by_threads": {t: round(g, 1) for t, g in best.items()},
            "blas_gflops_by_threads": {}, "cpu_flags": cpu_dtype_flags(),
            "method": f"the FMA units' float32 limit, not measured in this run: the best of "
                      f"this machine's kept readings ({path}; {REUSE_ENV}={REUSE_VALUE})"}


def remembered(peak: dict[str, Any], cpus_for: Callable[[int], list[int]]
               ) -> dict[str, Any]:
    """`peak` reconciled with this machine's kept readings (`suite.peak_cache`): its figures
    become the best of the probe and them, a probe far under them is measured again, and
    the readings' spread, the probe and any warning are stored beside the figures."""
    from suite import peak_cache
    keys = _keys(peak["gflops_by_threads"], cpus_for)
    path = peak_cache.cache_file()
    data = peak_cache.load(path)

    def again(threads: int) -> float | None:
        result = measure_one(threads, cpus_for(threads), peak_cache.RECHECK_S)
        return None if "error" in result else float(result.get("gflops") or 0.0) or None

    fields = peak_cache.reconcile(peak["gflops_by_threads"], keys, data, again)
    peak_cache.save(path, data)
    if not fields["warnings"]:
        del fields["warnings"]
    peak.update(fields)
    peak["method"] += (f"; the figure is the best of this probe and this machine's last "
                       f"{peak_cache.KEEP} readings ({path}), a probe under "
                       f"{peak_cache.RECHECK_BELOW:.0%} of them measured again for "
                       f"{peak_cache.RECHECK_S:g} s")
    return peak


def cpu_dtype_flags(cpuinfo: str | None = None) -> list[str]:
    """Which of DTYPE_CPU_FLAGS' instructions this CPU has (from /proc/cpuinfo's flags)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    line = next((x for x in cpuinfo.splitlines() if x.startswith("flags")), "")
    present = set(line.partition(":")[2].split())
    return [f for flags in DTYPE_CPU_FLAGS.values() for f in flags if f in present]


def peak_text(peak: dict[str, Any] | None) -> str:
    """"148.6 GFLOP/s at 1 thread, 225.1 GFLOP/s at 2 threads" (or "not measured"); for a
    GPU's peak, its figure per dtype (`suite.gpu_peak.gpu_peak_text`)."""
    if is_gpu_peak(peak):
        from suite.gpu_peak import gpu_peak_text
        return gpu_peak_text(peak)
    return _figures_text((peak or {}).get("gflops_by_threads") or {})


def peak_warnings(peak: dict[str, Any] | None) -> list[str]:
    """The console's warning lines about a measured peak (`suite.peak_cache`)."""
    return [f"warning: {w}" for w in (peak or {}).get("warnings", [])]


def is_gpu_peak(peak: dict[str, Any] | None) -> bool:
    """Whether a stored peak is a GPU's (`suite.gpu_peak`) rather than the CPU's."""
    return bool(peak) and peak.get("kind") == GPU_KIND   # type: ignore[union-attr]


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


class PointPeak(NamedTuple):
    """The peak a point's GFLOP/s is divided by, and what it is ("the TF32 tensor-core
    peak") - or, where `gflops` is None, why there is none."""

    gflops: float | None
    basis: str


# The GPU peak each dtype's points are divided by. float32 points: TF32's. PyTorch's cuDNN
# convolutions run float32 on TF32 tensor cores by default (TensorFlow's and ONNX Runtime's
# matrix products too), so a float32 network can beat the strict float32 peak and show
# over 100%; a peak is an upper bound, and the TF32 one bounds every float32 kernel.
GPU_PEAK_OF_DTYPE = {"float32": "tf32", "bfloat16": "bfloat16", "float16": "float16"}
GPU_PEAK_NAMES = {"float32": "strict float32 (TF32 off)", "tf32": "TF32 tensor-core",
                  "bfloat16": "bfloat16 tensor-core", "float16": "float16 tensor-core"}


def point_peak_gflops(peak: dict[str, Any] | None, spec: PointSpec) -> PointPeak:
    """The peak a point's achieved GFLOP/s is divided by, for every place a % of peak shows.

    CUDA points: the GPU peak of their dtype (float32: TF32's, see GPU_PEAK_OF_DTYPE), times
    their ranks (one GPU each). CPU float32 points: the FMA limit at threads x local ranks
    (a data-parallel point's GFLOP/s counts every rank's items), times its nodes. CPU
    bfloat16/float16 points: none - dlbench measures no such peak on a CPU, and the float32
    limit is no bound where the CPU has instructions for them (AVX512-BF16, AMX)."""
    if spec.device == "cuda":
        return _gpu_point_peak(peak, spec)
    if spec.dtype != "float32":
        return PointPeak(None, _no_cpu_dtype_peak(peak, spec.dtype))
    if is_gpu_peak(peak):
        return PointPeak(None, "no CPU peak: the run measured its GPU's")
    threads = int(spec.threads) * int(spec.nproc_per_node)
    figure = peak_gflops(peak, threads)
    if figure is None:
        return PointPeak(None, f"no peak measured at {threads} thread{_s(threads)}")
    nodes = int(spec.nnodes)
    return PointPeak(figure * nodes, f"the float32 FMA limit at {threads} thread{_s(threads)}"
                     + (f" x {nodes} nodes" if nodes > 1 else ""))


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _gpu_point_peak(peak: dict[str, Any] | None, spec: PointSpec) -> PointPeak:
    if not is_gpu_peak(peak):
        return PointPeak(None, "no GPU peak measured")
    key = GPU_PEAK_OF_DTYPE.get(spec.dtype)
    if key is None:
        return PointPeak(None, f"no GPU peak for {spec.dtype}")
    figure = ((peak or {}).get("gflops_by_dtype") or {}).get(key)
    if not figure or float(figure) <= 0:
        why = ((peak or {}).get("errors") or {}).get(key) or (peak or {}).get("error") \
            or "not measured"
        return PointPeak(None, f"no {GPU_PEAK_NAMES[key]} peak: {why}")
    gpus = int(spec.nproc_per_node) * int(spec.nnodes)
    return PointPeak(float(figure) * gpus, f"the {GPU_PEAK_NAMES[key]} peak"
                     + (f" x {gpus} GPUs" if gpus > 1 else ""))


def _no_cpu_dtype_peak(peak: dict[str, Any] | None, dtype: str) -> str:
    """Why a CPU point of another dtype than float32 gets no % of peak."""
    flags = DTYPE_CPU_FLAGS.get(dtype)
    if not flags:
        return f"no {dtype} peak on a CPU"
    names = "/".join(f for f in flags if not f.startswith("amx")) + "/AMX"
    stored = (peak or {}).get("cpu_flags")
    if peak is None or is_gpu_peak(peak) or stored is None:
        return f"no {dtype} peak measured (the float32 FMA limit bounds float32 only)"
    if any(f in stored for f in flags):
        return (f"no {dtype} peak: this CPU has {names}, which the float32 FMA limit does "
                f"not bound, and dlbench measures no {dtype} peak")
    return f"no {dtype} peak: this CPU lacks {names}"


if __name__ == "__main__":
    # The child: pin first (the BLAS thread pool inherits the affinity), then import numpy.
    _threads = int(sys.argv[1])
    _cpus = [int(c) for c in sys.argv[2].split(",") if c]
    if _cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, _cpus)
    print(json.dumps(_child(_threads, _cpus, float(sys.argv[3]))))


def env_peak_lines() -> list[str]:
    """`python -m suite env`'s peak lines: the float32 peak measured now at one thread and
    at all physical cores (what points are measured at)."""
    from suite.topology import core_list, read_topology
    topo = read_topology()
    counts = sorted({1, topo.physical_cores})
    peak = measure_peak(counts, lambda t: core_list(topo, t, "sequential", False))
    return [f"peak:      {peak_text(peak)}",
            f"           ({peak['method']}; `train`/`infer` measure it at their thread counts "
            "and store it in run.json)"]
