"""What a sweep will cost, said before it starts. Pure functions; no framework imports.

A point's step time is guessed from its model's analytic FLOPs and the machine's measured
float32 peak at its thread count (`suite.peak`: the FMA units' limit), at an assumed
efficiency (real networks reach a fraction of it) plus a fixed overhead per step; a training
step also pays for every parameter it updates (the weight gradients and the SGD update
stream the weights several times, which small inputs cannot hide). From the
step time and the loop's budgets (`suite.measure.LoopSettings`, per process) follow:

- likely: start-up, warm-up (its minimum steps and one window more, within its budget),
  then the timed part: at least `--min-time` and the minimum steps, at most `--max-time`
  unless the minimum steps need longer (up to `--time-cap`);
- at most: start-up, the whole warm-up budget, then the cap (or the minimum iterations,
  which always run).

It is a guess (the efficiency varies by framework and batch), so the console prints it
as "about"; the upper figure is a bound from the budgets, not from the guess, except
where the minimum iterations of a very slow step exceed the cap.

A `--device cuda` point is guessed from the GPU's measured peak of its dtype (the one its
% of peak is of, `suite.peak.point_peak_gflops`), at GPU_COSTS' lower efficiency, with a
per-step overhead for kernel launches and a start-up that includes CUDA initialisation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple

# Fraction of the float32 FMA limit (`suite.peak`) a network step reaches: ONNX Runtime's
# ResNet-50 at 224 px reaches 65-70% of it here, small models at 32-64 px 20-55% (the
# repro sweep of benchmarks/reproducibility.py: ORT ResNet-18 @32 27-55%, PyTorch 4-21%);
# the fixed overhead below covers what they lose to dispatch.
ASSUMED_EFFICIENCY = 0.5
STEP_OVERHEAD_S = 0.002       # framework dispatch per step, even for a tiny model
# Seconds per updated parameter in a training step, 1 thread: fitted on ResNet-18 (11.7 M
# parameters, 80-98 ms) and SqueezeNet (1.2 M, 13-21 ms) at 32 px, batch 2, in PyTorch,
# MXNet and TensorFlow (./run.sh's training sweep on the 2-core VM), where FLOPs
# alone guessed 7 and 3 ms.
TRAIN_S_PER_PARAM = 6.5e-9
STARTUP_S = 4.0               # a fresh worker: import the framework, build the model
WARMUP_EXTRA_STEPS = 5        # a warm-up runs its minimum steps and about one window more
UNKNOWN_PEAK_GFLOPS = 50.0    # when no peak was measured (failed measurement)


class DeviceCosts(NamedTuple):
    """What a step and a worker cost on one kind of device."""

    efficiency: float
    step_overhead_s: float
    train_s_per_param: float
    startup_s: float
    unknown_peak_gflops: float


CPU_COSTS = DeviceCosts(ASSUMED_EFFICIENCY, STEP_OVERHEAD_S, TRAIN_S_PER_PARAM, STARTUP_S,
                        UNKNOWN_PEAK_GFLOPS)
# A GPU step: networks reach a fifth or less of the tensor cores' matrix-product peak
# (ResNet-50 training in mixed precision: about 10-15% of an A100's); eager frameworks
# launch a few hundred kernels per step at 5-10 us each (5 ms, most of a small batch's
# step); the SGD update streams weights, gradients and momentum once (about 20 bytes per
# parameter at a few TB/s); a worker also creates its CUDA context and loads cuBLAS/cuDNN
# (about 3 s more than a CPU worker). Unknown peak: 100 TFLOP/s, a modest tensor-core rate.
CUDA_INIT_S = 3.0
GPU_COSTS = DeviceCosts(0.2, 0.005, 1e-11, STARTUP_S + CUDA_INIT_S, 100_000.0)
DEVICE_COSTS = {"cpu": CPU_COSTS, "cuda": GPU_COSTS}


@dataclass(frozen=True)
class Estimate:
    """The cost of a sweep in seconds: a likely figure and a bound from the budgets."""

    points: int
    processes: int
    likely_s: float
    at_most_s: float
    gpu: bool = False       # some points run on a GPU (the text says how those are guessed)
    schedule: str = "sequential"   # interleaved: the text names the rounds
    control_points: int = 0        # of `points`, the control arms' (CONTRACT §15)


class PointCost(NamedTuple):
    """What a point's cost is guessed from."""

    gflop_per_step: float
    peak_gflops: float | None        # at its thread count; None where none was measured
    batch_size: int
    trained_params: int = 0          # parameters a training step updates (0: inference)
    device: str = "cpu"              # cpu | cuda (DEVICE_COSTS)


def step_seconds(gflop_per_step: float, peak_gflops: float | None,
                 efficiency: float | None = None, trained_params: int = 0,
                 device: str = "cpu") -> float:
    """A guessed step time: the step's FLOPs at `efficiency` of the peak (default: the
    device's), plus the device's overhead per step and per trained parameter."""
    costs = DEVICE_COSTS.get(device, CPU_COSTS)
    peak = peak_gflops if peak_gflops and peak_gflops > 0 else costs.unknown_peak_gflops
    return gflop_per_step / (peak * (efficiency or costs.efficiency)) + \
        costs.step_overhead_s + trained_params * costs.train_s_per_param


def process_seconds(step_s: float, loop: Mapping[str, Any],
                    batch_size: int = 1, device: str = "cpu") -> tuple[float, float]:
    """(likely, at most) seconds of one worker process for one point under `loop`
    (the per-process settings sent to workers, `suite.sweep.loop_settings()["loop"]`)."""
    startup_s = DEVICE_COSTS.get(device, CPU_COSTS).startup_s
    min_time = float(loop.get("min_time_s", 1.0))
    max_time = float(loop.get("max_time_s", 10.0))
    cap = max(max_time, float(loop.get("cap_time_s") or max_time))
    min_iterations = int(loop.get("min_iterations", 10))
    min_steps = int(loop.get("min_steps", 0))
    warmup_budget = float(loop.get("warmup_max_s", 10.0))
    max_items = loop.get("max_items")                  # training: --samples, in items
    max_items_steps = -(-int(max_items) // max(1, batch_size)) if max_items else None
    floor = min_iterations * step_s                    # always run, past every budget
    timed = max(min_time, min(max_time, floor))
    if max_items_steps:
        timed = min(timed, max(floor, max_items_steps * step_s))
    timed = max(timed, min(cap, min_steps * step_s), floor)
    warmup_steps = max(10, int(loop.get("warmup_min_iterations", 10))) + WARMUP_EXTRA_STEPS
    warmup = min(warmup_budget, warmup_steps * step_s)
    likely = startup_s + warmup + step_s + timed
    at_most = startup_s + warmup_budget + step_s + max(cap, floor)
    return likely, at_most


def estimate_sweep(points: Iterable[PointCost | tuple], loop: Mapping[str, Any],
                   processes: int, max_processes: int | None = None,
                   worker_groups: int | None = None) -> Estimate:
    """The cost of running points (`PointCost`s, or tuples of its fields); the bound counts
    `max_processes` per point (imprecise points get more processes, `suite.schedule`).

    Every process of every point starts a fresh worker: interleaved rounds start one per
    point in each round, as `--schedule sequential` does with --worker-per-point. With
    `worker_groups` (sequential, --no-worker-per-point) each pass starts one worker per
    group instead, shared by the group's points.
    """
    likely = at_most = startup = 0.0
    count, gpu = 0, False
    for point in points:
        p = PointCost(*point)
        one, most = process_seconds(step_seconds(p.gflop_per_step, p.peak_gflops,
                                                 trained_params=p.trained_params,
                                                 device=p.device),
                                    loop, p.batch_size, p.device)
        if worker_groups is not None:   # the start-up is the group's, counted below
            own = DEVICE_COSTS.get(p.device, CPU_COSTS).startup_s
            one, most, startup = one - own, most - own, max(startup, own)
        likely += processes * one
        at_most += max(processes, max_processes or 0) * most
        count += 1
        gpu = gpu or p.device == "cuda"
    if worker_groups:
        likely += processes * worker_groups * startup
        at_most += max(processes, max_processes or 0) * worker_groups * startup
    return Estimate(count, processes, likely, at_most, gpu)


def duration_text(seconds: float) -> str:
    """"45 s", "4 min", "1 h 20 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def estimate_text(e: Estimate) -> str:
    """One console line: the cost before the sweep starts."""
    per = f" x {e.processes} processes" if e.processes > 1 else ""
    control = f" ({e.control_points} of them control arms)" if e.control_points else ""
    rounds = (f"; {e.processes} interleaved rounds, a fresh worker for each point in each"
              if e.schedule == "interleaved" else "")
    basis = (f"at {GPU_COSTS.efficiency:.0%} of the GPU's measured peak of each point's "
             f"dtype (float32: TF32's), plus {GPU_COSTS.step_overhead_s * 1e3:g} ms of kernel "
             f"launches per step and {GPU_COSTS.startup_s:g} s of start-up per worker "
             f"including CUDA initialisation" if e.gpu
             else f"at {ASSUMED_EFFICIENCY:.0%} of the measured peak")
    return (f"estimate: {e.points} points{control}{per}, about {duration_text(e.likely_s)}, "
            f"at most {duration_text(e.at_most_s)} by the time limits{rounds} (step times "
            f"guessed from each model's FLOPs {basis}, plus the parameters' update in "
            f"training)")
