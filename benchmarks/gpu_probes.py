"""The GPU check's own measurements, one per subcommand, each printing one JSON line last.

Run by benchmarks/gpu_check.py, each in a process of its own (a CUDA fault in one leaves the
others standing); without CUDA (`--device cpu`, the check's dry run) each either measures
its CPU counterpart or says why it was skipped, so the script is proven before GPU minutes
are spent on it.

  events        CUDA-event times of the native timer (time_calls_cuda) around a kernel of
                known duration (a %globaltimer spin through CuPy, else torch.cuda._sleep),
                against torch.cuda.Event on torch's stream and cupy.cuda.Event on a CuPy
                stream, and against the known duration
  sampler-nvml  the memory sampler's view of a 1 GiB allocation against NVML's (pynvml, else
                nvidia-smi) and against the device-wide used memory
  sampler-cost  a launch-bound step (ResNet-18, batch 1) timed as the worker times it, with
                the sampler off and on at several intervals, interleaved: the cost of each
  hand-loop     a plain user loop over torchvision's ResNet-50 (or the torchvision-style
                network of benchmarks/_reference_nets.py where torchvision is missing), timed
                by torch.cuda.Event per step and by windows of steps, for the parity ratio

    python benchmarks/gpu_probes.py events
    python benchmarks/gpu_probes.py hand-loop --task train --batch 64 --size 224
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

from suite import _native as n

GIB = 1 << 30
MIB = 1 << 20
SPIN_SOURCE = r'''
extern "C" __global__ void spin(unsigned long long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do { asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); } while (t - t0 < ns);
}'''


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, default=float))


def skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


def rel(a: float, b: float) -> float:
    return (a - b) / b if b else float("nan")


# ----------------------------------------------------------------------- events

def _spin_kernel() -> tuple[Callable[[int], None] | None, str]:
    """A launcher of a kernel that runs `ns` nanoseconds on the current CuPy stream."""
    try:
        import cupy
        kernel = cupy.RawKernel(SPIN_SOURCE, "spin")
        return (lambda ns: kernel((1,), (1,), (np.uint64(ns),))), "cupy %globaltimer spin"
    except Exception as e:   # noqa: BLE001 - no CuPy, or it cannot compile here
        return None, f"no CuPy kernel ({type(e).__name__}: {e})"


def _compare(fn_factory: Callable[[], tuple[Callable[[], None], Callable[[], list[float]]]],
             stream: int, calls: int, blocker: Callable[[int], None]) -> dict[str, float]:
    """Our per-call event times vs the framework's events recorded inside each call."""
    fn, theirs_ns = fn_factory()
    n.time_calls_cuda(fn, 3, stream=stream)           # warm-up
    fn, theirs_ns = fn_factory()
    # A blocker first: while it runs every record is enqueued, so the host's gaps between
    # our events and theirs (an Event's creation) are not device time on an idle stream.
    blocker(stream)
    _, ours, window = n.time_calls_cuda(fn, calls, stream=stream)
    theirs = np.asarray(theirs_ns(), dtype=float)
    ours = np.asarray(ours, dtype=float)
    return {"ours_ms": float(np.median(ours)) / 1e6, "theirs_ms": float(np.median(theirs)) / 1e6,
            "max_rel_diff": float(np.max(np.abs(ours - theirs) / theirs)),
            "median_rel_diff": float(np.median((ours - theirs) / theirs)),
            "window_ms": window / 1e6}


def probe_events(device: str) -> dict[str, Any]:
    if device != "cuda" or not n.cuda_available():
        return skipped(n.cuda_unavailable_reason() or "CPU mode")
    import torch
    spin, how = _spin_kernel()
    cupy = sys.modules.get("cupy")
    if spin is None:   # torch.cuda._sleep spins a number of cycles: calibrate it once
        how += "; torch.cuda._sleep, cycles calibrated by torch events"
    out: dict[str, Any] = {"status": "ok", "kernel": how, "rows": []}
    tstream = torch.cuda.Stream()

    def blocker(handle: int) -> None:   # 50 ms of work on the stream `handle`
        with torch.cuda.stream(torch.cuda.ExternalStream(handle)):
            torch.cuda._sleep(100_000_000)

    for target_ms in (0.05, 1.0, 10.0):
        ns = int(target_ms * 1e6)

        def torch_side() -> tuple[Callable[[], None], Callable[[], list[float]]]:
            pairs: list[tuple[Any, Any]] = []

            def fn() -> None:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                with torch.cuda.stream(tstream):
                    a.record()
                    if spin is not None:
                        with cupy.cuda.ExternalStream(tstream.cuda_stream):
                            spin(ns)
                    else:
                        torch.cuda._sleep(int(ns * 1.4))   # ~1.4 cycles/ns at 1.4-2 GHz
                    b.record()
                pairs.append((a, b))
            return fn, lambda: [a.elapsed_time(b) * 1e6 for a, b in pairs]

        row = {"target_ms": target_ms, "stream": "torch.cuda.Stream",
               **_compare(torch_side, tstream.cuda_stream, 20, blocker)}
        if spin is not None:
            row["ours_vs_known"] = rel(row["ours_ms"], target_ms)
        out["rows"].append(row)
        if spin is not None:
            cstream = cupy.cuda.Stream(non_blocking=True)

            def cupy_side() -> tuple[Callable[[], None], Callable[[], list[float]]]:
                pairs: list[tuple[Any, Any]] = []

                def fn() -> None:
                    with cstream:
                        a, b = cupy.cuda.Event(), cupy.cuda.Event()
                        a.record()
                        spin(ns)
                        b.record()
                    pairs.append((a, b))
                return fn, lambda: [cupy.cuda.get_elapsed_time(a, b) * 1e6 for a, b in pairs]

            crow = {"target_ms": target_ms, "stream": "cupy.cuda.Stream (non-blocking)",
                    **_compare(cupy_side, cstream.ptr, 20, blocker)}
            crow["ours_vs_known"] = rel(crow["ours_ms"], target_ms)
            out["rows"].append(crow)
    big = [r for r in out["rows"] if r["target_ms"] >= 1.0]
    out["pass"] = all(abs(r["median_rel_diff"]) <= 0.01 for r in big)
    return out


# ----------------------------------------------------------------- sampler vs NVML

def nvml_process_bytes(pid: int) -> tuple[int | None, str]:
    """This process's device memory as NVML reports it (pynvml, else nvidia-smi)."""
    try:
        import pynvml
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid:
                return int(proc.usedGpuMemory), "pynvml"
        return 0, "pynvml (process not listed)"
    except Exception as e:   # noqa: BLE001 - fall back to the command line tool
        import subprocess
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[0] == str(pid) and parts[1].isdigit():
                return int(parts[1]) * MIB, f"nvidia-smi (pynvml: {type(e).__name__})"
        return None, f"not found by nvidia-smi (pynvml: {e})"


def probe_sampler_nvml(device: str) -> dict[str, Any]:
    import os
    if device != "cuda" or not n.cuda_available():   # CPU: the RSS side of the sampler
        sampler = n.MemorySampler(1000, -1)
        sampler.start()
        block = np.ones(256 * MIB // 8)
        time.sleep(0.05)
        result = sampler.stop()
        del block
        delta = (result["peak_rss_bytes"] - result["baseline_rss_bytes"]) / MIB
        return {"status": "ok", "mode": "cpu rss", "allocated_mib": 256.0,
                "sampler_delta_mib": delta, "pass": abs(delta - 256) <= 16}
    import torch
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    sampler = n.MemorySampler(1000, 0)
    sampler.start()
    time.sleep(0.05)
    block = torch.empty(GIB, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    time.sleep(0.1)
    nvml_bytes, source = nvml_process_bytes(os.getpid())
    native_now = n.device_process_memory_bytes(0)
    result = sampler.stop()
    del block
    out = {"status": "ok", "nvml_source": source, "allocated_mib": 1024.0,
           "sampler_process_peak_mib": result["peak_process_device_bytes"] / MIB,
           "sampler_process_delta_mib": (result["peak_process_device_bytes"]
                                         - result["baseline_process_device_bytes"]) / MIB,
           "sampler_device_delta_mib": (result["peak_device_bytes"]
                                        - result["baseline_device_bytes"]) / MIB,
           "native_process_now_mib": native_now / MIB,
           "nvml_process_mib": None if nvml_bytes is None else nvml_bytes / MIB,
           "torch_reserved_mib": torch.cuda.memory_reserved() / MIB,
           "samples": result["samples"]}
    if nvml_bytes is not None:
        out["sampler_vs_nvml_mib"] = out["sampler_process_peak_mib"] - nvml_bytes / MIB
        out["pass"] = abs(out["sampler_vs_nvml_mib"]) <= 8 and \
            abs(out["sampler_process_delta_mib"] - 1024) <= 8
    return out


# ------------------------------------------------------------------- sampler cost

def probe_sampler_cost(device: str, intervals: list[int], rounds: int,
                       model: str = "resnet18", batch: int = 1) -> dict[str, Any]:
    """Each round times one block per setting, in a rotated order; a setting's cost is
    the median over rounds of (its block's time per step / the same round's 'off')."""
    from frameworks import get_adapter
    from suite.models import zoo
    from suite.timing import CudaEventTimer, NativeTimer
    from suite.worker import build_runnable
    from suite.spec import PointSpec
    cuda = device == "cuda" and n.cuda_available()
    dev = "cuda" if cuda else "cpu"
    size = 224 if cuda else 32
    spec = PointSpec("infer", "pytorch", "none", model, batch, size, device=dev)
    cfg = {"seed": 0, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}
    runnable = build_runnable(get_adapter("pytorch"), zoo.get_model(model, size), spec, cfg)
    timer = CudaEventTimer(runnable.stream_handle(), runnable.synchronize) if cuda \
        else NativeTimer(runnable.synchronize)
    for _ in range(30):
        runnable.step()
    runnable.synchronize()
    probe = timer.run(runnable.step, 20)
    step_s = probe.wall_ns() / 20 / 1e9
    steps = max(20, int(0.4 / step_s))
    settings: list[int | None] = [None] + intervals
    per_step: dict[str, list[float]] = {str(s): [] for s in settings}
    for r in range(rounds):
        order = settings[r % len(settings):] + settings[:r % len(settings)]
        for setting in order:
            sampler = None
            if setting is not None:
                sampler = n.MemorySampler(setting, 0 if cuda else -1)
                sampler.start()
            timed = timer.run(runnable.step, steps)
            if sampler is not None:
                sampler.stop()
            per_step[str(setting)].append(timed.wall_ns() / len(timed.host_ns))
    off = per_step["None"]
    rows = []
    for s in intervals:
        ratios = [on / base for on, base in zip(per_step[str(s)], off)]
        rows.append({"interval_us": s, "median_cost_pct": 100 * (statistics.median(ratios) - 1),
                     "round_costs_pct": [round(100 * (x - 1), 2) for x in ratios]})
    fine = [r["interval_us"] for r in rows if r["median_cost_pct"] < 1.0]
    return {"status": "ok", "device": dev, "model": f"{model} bs{batch} @{size}",
            "step_ms": statistics.median(off) / 1e6, "steps_per_block": steps,
            "rounds": rounds, "rows": rows,
            "smallest_interval_under_1pct_us": min(fine) if fine else None}


# ---------------------------------------------------------------------- hand loop

def _reference_resnet50(size: int) -> tuple[Any, str]:
    try:
        import torchvision
        return torchvision.models.resnet50(), f"torchvision {torchvision.__version__} resnet50"
    except Exception as e:   # noqa: BLE001 - the CPU VM's torch cannot load torchvision
        sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
        from _reference_nets import torch_net
        return torch_net("resnet50", size), f"benchmarks/_reference_nets resnet50 " \
                                            f"(no torchvision: {type(e).__name__})"


def probe_hand_loop(device: str, task: str, batch: int, size: int, seconds: float,
                    threads: int = 0) -> dict:
    """A plain user script: the network, SGD or inference_mode, the default stream, and
    torch.cuda.Event around every step; throughput from windows of steps, one sync each."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    cuda = device == "cuda" and torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    net, what = _reference_resnet50(size)
    net = net.to(dev)
    x = torch.randn(batch, 3, size, size, device=dev)
    y = torch.randint(0, 1000, (batch,), device=dev)
    if task == "train":
        net.train()
        sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

        def step() -> None:
            sgd.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()
            sgd.step()
    else:
        net.eval()

        def step() -> None:
            with torch.inference_mode():
                net(x)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t_end = time.perf_counter() + min(3.0, seconds)
    warm = 0
    while warm < 20 or time.perf_counter() < t_end:   # warm-up: 20 steps and a while
        step()
        warm += 1
        if warm % 10 == 0:
            sync()
    sync()
    step_ms, windows = [], []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(windows) < 3:
        events = []
        t0 = time.perf_counter()
        for _ in range(10):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                step()
                b.record()
                events.append((a, b))
            else:
                s0 = time.perf_counter()
                step()
                step_ms.append((time.perf_counter() - s0) * 1e3)
        sync()
        windows.append((time.perf_counter() - t0, 10))
        step_ms.extend(a.elapsed_time(b) for a, b in events)
    total_s = sum(w for w, _ in windows)
    return {"status": "ok", "device": dev.type, "network": what, "task": task, "batch": batch,
            "size": size, "steps": len(step_ms), "median_ms": statistics.median(step_ms),
            "items_per_second": batch * sum(k for _, k in windows) / total_s,
            "params": sum(p.numel() for p in net.parameters())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("probe", choices=["events", "sampler-nvml", "sampler-cost", "hand-loop"])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--intervals", default="1000,5000,10000,50000")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--task", default="infer", choices=["infer", "train"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=0, help="hand loop: torch threads (0: default)")
    a = p.parse_args()
    if a.probe == "events":
        emit(probe_events(a.device))
    elif a.probe == "sampler-nvml":
        emit(probe_sampler_nvml(a.device))
    elif a.probe == "sampler-cost":
        emit(probe_sampler_cost(a.device, [int(v) for v in a.intervals.split(",")], a.rounds))
    else:
        emit(probe_hand_loop(a.device, a.task, a.batch, a.size, a.seconds, a.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
