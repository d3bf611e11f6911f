"""The GPU's peak: the best dense matrix product per dtype on device 0, measured in a child.

A `--device cuda` sweep divides each point's GFLOP/s by the peak of its dtype
(`suite.peak.point_peak_gflops`) and guesses step times from it (`suite.estimate`). The
runner imports no framework, so `measure_gpu_peak` runs `python -m suite.gpu_peak`, which
imports torch (else cupy), multiplies square matrices of SIZE on device 0 and prints one
JSON line: for each of
- `float32`: strict float32 (TF32 off: `torch.set_float32_matmul_precision("highest")`),
- `tf32`: float32 inputs on TF32 tensor cores (precision "high"),
- `bfloat16` and `float16`: the tensor cores' half-precision rates,
the best of REPEATS timed rounds, each a few products between two CUDA events after a
warm-up (cuBLAS picks its kernel and the clocks ramp up in the warm-up). On an H200 with
torch 2.11 the child takes about 6 s (importing torch and creating the CUDA context
included) and finds 51 (strict float32), 371 (TF32), 744 (bfloat16) and 725 (float16)
TFLOP/s. cupy has no bfloat16 and reads its TF32 switch at import, so through cupy (2 s)
only float32 and float16 are measured, the others stored with the reason.

Stored in run.json as environment["peak"] (`suite.peak.PEAK_KEY`):
{"kind": "gpu", "device_name": "NVIDIA H200", "device_index": 0, "library": "torch 2.11.0",
 "gflops_by_dtype": {"float32": 51181.2, "tf32": 370670.7, "bfloat16": 744328.5, ...},
 "method": "...", "errors": {dtype: why}} - or, where nothing could be measured (no CUDA,
neither torch nor cupy), "gflops_by_dtype": {} and "error": the reason. Never raises.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any, Callable

SIZE = 8192               # square side: 1.1 TFLOP per product, enough to fill an H200
REPEATS = 5               # timed rounds per dtype; the best counts (a peak is a maximum)
ROUND_S = 0.08            # about this long each round (products per round follow from it)
WARMUP = 3                # untimed products per dtype first
DTYPES = ("float32", "tf32", "bfloat16", "float16")
TIMEOUT_S = 180.0         # importing torch and creating a CUDA context included
PEAK_NAMES = {"float32": "strict float32", "tf32": "TF32", "bfloat16": "bfloat16",
              "float16": "float16"}


def gpu_peak_record(result: dict[str, Any]) -> dict[str, Any]:
    """The child's JSON as stored in run.json (see the module docstring)."""
    figures = {k: round(float(v), 1) for k, v in (result.get("gflops") or {}).items()
               if isinstance(v, (int, float)) and v > 0}
    record: dict[str, Any] = {
        "kind": "gpu", "device_name": result.get("device_name"),
        "device_index": result.get("device_index", 0), "library": result.get("library"),
        "gflops_by_dtype": figures,
        "method": (f"best dense {result.get('size', SIZE)}x{result.get('size', SIZE)} "
                   f"matrix product per dtype on device {result.get('device_index', 0)} "
                   f"({result.get('library') or 'no library'}): CUDA events around "
                   f"rounds of products after {WARMUP} warm-up products, best of "
                   f"{REPEATS} rounds; float32 strict (TF32 off), tf32 = float32 inputs "
                   f"on TF32 tensor cores")}
    errors = {k: str(v) for k, v in (result.get("errors") or {}).items()}
    if errors:
        record["errors"] = errors
    if result.get("error") or not figures:
        record["error"] = str(result.get("error") or "no figure measured")
    return record


def measure_gpu_peak(timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Run the child and return its record; a failed child is a record with the reason."""
    command = [sys.executable, "-m", "suite.gpu_peak"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        lines = out.stdout.strip().splitlines()
        if not lines:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return gpu_peak_record({"error": f"GPU peak child exited {out.returncode}: "
                                             f"{tail}"})
        return gpu_peak_record(json.loads(lines[-1]))
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return gpu_peak_record({"error": f"GPU peak measurement failed: {e}"})


def gpu_peak_text(peak: dict[str, Any] | None) -> str:
    """"NVIDIA H200: strict float32 51.2, TF32 412, bfloat16 756, float16 761 TFLOP/s"
    (or "not measured: <why>")."""
    peak = peak or {}
    figures = peak.get("gflops_by_dtype") or {}
    if not figures:
        return f"not measured: {peak.get('error') or 'no figure'}"
    text = ", ".join(f"{PEAK_NAMES.get(k, k)} {float(v) / 1000:.3g}" for k, v in figures.items())
    return f"{peak.get('device_name') or 'GPU'}: {text} TFLOP/s"


def best_tflops(run: Callable[[], None], timer: Callable[[Callable[[], None], int], float],
                flop: float, round_s: float = ROUND_S, repeats: int = REPEATS) -> float:
    """The best TFLOP/s of `repeats` rounds of `run()` (one product of `flop` FLOPs each);
    `timer(run, count)` returns the seconds `count` products take (CUDA events)."""
    for _ in range(WARMUP):
        run()
    one = max(timer(run, 1), 1e-6)
    count = max(1, min(50, int(round_s / one)))
    return max(flop * count / max(timer(run, count), 1e-9) for _ in range(repeats)) / 1e12


def _torch_measure(size: int) -> dict[str, Any]:
    """Every dtype through torch (cuBLAS), on device 0."""
    import torch
    if not torch.cuda.is_available():
        return {"error": "CUDA not available: torch.cuda.is_available() is False "
                         f"(torch {torch.__version__})"}
    device = torch.device("cuda", 0)

    def timer(run: Callable[[], None], count: int) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(count):
            run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    result: dict[str, Any] = {"library": f"torch {torch.__version__}",
                              "device_name": torch.cuda.get_device_name(device),
                              "gflops": {}, "errors": {}}
    for name in DTYPES:
        try:
            torch.set_float32_matmul_precision("high" if name == "tf32" else "highest")
            dtype = torch.float32 if name in ("float32", "tf32") else getattr(torch, name)
            a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
            out = torch.empty(size, size, device=device, dtype=dtype)
            tflops = best_tflops(lambda: torch.matmul(a, b, out=out), timer, 2.0 * size ** 3)
            result["gflops"][name] = tflops * 1000
            del a, b, out
        except Exception as e:   # one dtype the GPU lacks must not lose the others
            result["errors"][name] = f"{type(e).__name__}: {e}".splitlines()[0]
    torch.set_float32_matmul_precision("highest")
    return result


def _cupy_measure(size: int) -> dict[str, Any]:
    """float32 (strict) and float16 through cupy; bfloat16 and TF32 are not available."""
    import os
    os.environ["CUPY_TF32"] = "0"      # read when cupy is imported: strict float32
    import cupy
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as e:
        return {"error": f"CUDA not available: {e}"}
    if count < 1:
        return {"error": "CUDA not available: no CUDA device"}
    cupy.cuda.Device(0).use()

    def timer(run: Callable[[], None], n: int) -> float:
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        for _ in range(n):
            run()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3

    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    result: dict[str, Any] = {"library": f"cupy {cupy.__version__}",
                              "device_name": name.decode() if isinstance(name, bytes) else name,
                              "gflops": {}, "errors": {
                                  "tf32": "not measured through cupy (its TF32 switch is "
                                          "read at import)",
                                  "bfloat16": "not measured through cupy (no bfloat16 dtype)"}}
    for dtype in ("float32", "float16"):
        a, b = (cupy.random.random((size, size)).astype(dtype) for _ in range(2))
        out = cupy.empty((size, size), dtype=dtype)
        result["gflops"][dtype] = best_tflops(lambda: cupy.matmul(a, b, out=out), timer,
                                              2.0 * size ** 3) * 1000
    return result


def child(size: int = SIZE) -> dict[str, Any]:
    """The measurement: torch if importable, else cupy, else the reason."""
    started = time.perf_counter()
    try:
        import torch  # noqa: F401
        measure = _torch_measure
    except ImportError:
        try:
            import cupy  # noqa: F401
            measure = _cupy_measure
        except ImportError:
            return {"error": "neither torch nor cupy is installed: no GPU peak"}
    try:
        result = measure(size)
    except Exception as e:   # a driver error: the parent stores the reason
        result = {"error": f"{type(e).__name__}: {e}".splitlines()[0]}
    return dict(result, size=size, device_index=0,
                seconds=round(time.perf_counter() - started, 2))


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]) if len(sys.argv) > 1 else SIZE)))
