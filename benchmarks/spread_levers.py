"""Do the process-level levers (suite.levers) narrow the spread between fresh worker processes?

For each small point, every setting (no lever; each lever of suite.levers alone; the memory
sampler's thread on the measured core instead of a spare one) starts one fresh
`python -m suite.worker` per round, driven through its JSON-lines protocol as the runner
drives it, with a fixed timed time per process. Rounds are interleaved: each round runs
every setting once, in an order rotated by the round. A process's figure is the median of
its step times.

Printed per point and setting, over the rounds:
  spread    the relative sd of the per-process medians (what suite.stats.process_spread sees)
  ratio     spread / the no-lever spread, with a 95% bootstrap CI over rounds (rounds
            resampled, settings paired): a lever helps when its CI is below 1
  in-round  the same after dividing each process's median by the geometric mean of the
            other settings' in its round: the machine's drift over the run taken out, the
            processes' own spread left; then its ratio to no lever, as above
  shift     how far the lever moves the per-process medians against no lever, with a 95%
            t-interval over the rounds' paired log-ratios: a lever must not move the figure
  others    the share of the measured core that other processes took while this one ran;
            a process above --max-others (5%) is left out of every figure ("kept")

    python benchmarks/spread_levers.py                          # about 8 minutes on 2 cores
    python benchmarks/spread_levers.py --rounds 18 --levers aslr_off,arena_one,aslr_off+arena_one
"""
from __future__ import annotations

import argparse
import json
import math
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quiet import TICKS_PER_S, busy_ticks  # noqa: E402

from frameworks import deployed_optimization  # noqa: E402
from suite.levers import LEVER_NAMES, Lever, levers_by_name, system_memory_settings, worker_launch  # noqa: E402
from suite.spec import PointSpec  # noqa: E402

BASELINE = "none"
SAMPLER_SAME_CORE = "sampler_same_core"
DEFAULT_POINTS = "pytorch:resnet18:64,onnx:squeezenet:64"


@dataclass(frozen=True)
class Setting:
    """One arm of the comparison: the levers a worker starts with and where its sampler runs."""

    name: str
    levers: tuple[Lever, ...] = ()
    sampler_on_measured_core: bool = False


def settings_for(names: list[str]) -> list[Setting]:
    """No lever, then each named setting: a lever, levers joined by "+" (together), or
    the sampler on the measured core."""
    found = [Setting(BASELINE)]
    for name in names:
        if name == SAMPLER_SAME_CORE:
            found.append(Setting(SAMPLER_SAME_CORE, (), True))
        else:
            found.append(Setting(name, levers_by_name(name.split("+"))))
    return found


def point_specs(text: str, batch: int, threads: int) -> list[PointSpec]:
    """`framework:model:size` items as inference specs."""
    specs = []
    for item in text.split(","):
        framework, model, size = item.split(":")
        specs.append(PointSpec(framework=framework, model=model, task="infer",
                               optimization=deployed_optimization(framework, "infer"),
                               batch_size=batch, threads=threads, input_size=int(size)))
    return specs


def _proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def _receive(proc: subprocess.Popen, timeout_s: float) -> dict[str, Any]:
    """The worker's next JSON line (RuntimeError when it dies or is silent)."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            raise RuntimeError(f"worker silent for {timeout_s:g} s")
        line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"worker died (exit code {proc.wait()})")
    return json.loads(line)


def one_process(spec: PointSpec, setting: Setting, loop: dict[str, Any], core: int,
                spare: list[int], log: Any) -> dict[str, float]:
    """Start a fresh worker with `setting`, measure `spec` once; its median step in ms."""
    env_add, pre = worker_launch(setting.levers)
    proc = subprocess.Popen([sys.executable, "-m", "suite.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, env=dict(os.environ, **env_add),
                            preexec_fn=pre, start_new_session=True, text=True)
    try:
        sampler = [core] if setting.sampler_on_measured_core else spare
        init = {"framework": spec.framework, "threads": spec.threads, "interop_threads": 1,
                "cores": [core], "memory_node": None, "sampler_cpus": sampler}
        proc.stdin.write(json.dumps(init) + "\n")
        proc.stdin.flush()
        ready = _receive(proc, 120)["ready"]
        if not ready["ok"]:
            raise RuntimeError(f"{spec.framework} unavailable: {ready['reason']}")
        busy0, own0, t0 = busy_ticks([core]), _proc_ticks(proc.pid), time.monotonic()
        settings = {"loop": loop, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "seed": 0}
        proc.stdin.write(json.dumps({"point": {"spec": spec.to_dict(), "settings": settings}})
                         + "\n")
        proc.stdin.flush()
        record = _receive(proc, 300)["measurement"]
        ticks = (time.monotonic() - t0) * TICKS_PER_S
        others = (busy_ticks([core]) - busy0) - (_proc_ticks(proc.pid) - own0)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    if record["status"] != "ok":
        raise RuntimeError(f"{spec.model}: {record['status']}: {record.get('message')}")
    return {"median_ms": float(np.median(record["samples_ns"])) / 1e6,
            "others": max(0.0, others / ticks) if ticks > 0 else 0.0,
            "setup_s": float(record["meta"].get("setup_s", math.nan))}


def rel_sd(values: np.ndarray) -> float:
    """The relative sd of the finite values (nan for fewer than 2)."""
    v = values[np.isfinite(values)]
    return float(np.std(v, ddof=1) / np.mean(v)) if len(v) > 1 else math.nan


def bootstrap_ratio(on: np.ndarray, off: np.ndarray, draws: int, seed: int
                    ) -> tuple[float, float, float]:
    """rel_sd(on) / rel_sd(off) over the rounds both kept, and its 95% percentile CI,
    resampling those rounds in pairs."""
    both = np.isfinite(on) & np.isfinite(off)
    on, off = on[both], off[both]
    whole = rel_sd(on) / rel_sd(off)
    if len(on) < 4:
        return whole, math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, len(on), size=(draws, len(on)))
    ratios = [rel_sd(on[i]) / rel_sd(off[i]) for i in idx if rel_sd(off[i]) > 0]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return whole, float(low), float(high)


def shift_ci(on: np.ndarray, off: np.ndarray) -> tuple[float, float, float]:
    """The geometric-mean ratio on/off - 1 and its 95% t-interval (paired by round)."""
    d = np.log(on / off)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return math.nan, math.nan, math.nan
    half = sp.t.ppf(0.975, len(d) - 1) * np.std(d, ddof=1) / math.sqrt(len(d))
    m = float(np.mean(d))
    return math.expm1(m), math.expm1(m - half), math.expm1(m + half)


def in_round(medians: np.ndarray) -> np.ndarray:
    """Each process's median over the geometric mean of the other settings' kept ones in
    its round ([setting, round]): the drift common to a round divides out, and no value
    is its own reference."""
    logs = np.log(medians)
    kept = np.isfinite(logs)
    total, count = np.where(kept, logs, 0.0).sum(axis=0), kept.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rest = (total - np.where(kept, logs, 0.0)) / (count - kept)
    return np.exp(logs - rest)


def table(spec: dict[str, Any], names: list[str], medians: np.ndarray, others: np.ndarray,
          draws: int, max_others: float) -> list[str]:
    """The rows for one point; medians and others are [setting, round]. A process during
    which other processes took more than `max_others` of the measured core is left out."""
    medians = np.where(others <= max_others, medians, np.nan)
    inner = in_round(medians)
    rows = [f"{spec['framework']} {spec['model']}@{spec['input_size']} bs "
            f"{spec['batch_size']}, {spec['threads']} thread(s), {medians.shape[1]} rounds; "
            f"baseline median {np.nanmedian(medians[0]):.3f} ms",
            f"  {'setting':<18} {'kept':>4} {'spread':>7} {'ratio [95% CI]':<18} "
            f"{'in-round':>8} {'ratio [95% CI]':<18} {'shift [95% CI]':<24} {'others':>6}"]
    fmt = "{:4.2f} [{:4.2f}, {:4.2f}]"
    for i, name in enumerate(names):
        ratio = inner_ratio = shift = ""
        if i:
            ratio = fmt.format(*bootstrap_ratio(medians[i], medians[0], draws, seed=i))
            inner_ratio = fmt.format(*bootstrap_ratio(inner[i], inner[0], draws, seed=i))
            shift = "{:+6.1%} [{:+6.1%}, {:+6.1%}]".format(*shift_ci(medians[i], medians[0]))
        rows.append(f"  {name:<18} {np.isfinite(medians[i]).sum():4d} "
                    f"{rel_sd(medians[i]):7.2%} {ratio:<18} {rel_sd(inner[i]):8.2%} "
                    f"{inner_ratio:<18} {shift:<24} {np.mean(others[i]):6.1%}")
    return rows


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Interleaved rounds over settings and points: every process's median and others'
    share, as stored by --json."""
    specs = point_specs(args.points, args.batch, args.threads)
    chosen = settings_for(args.levers.split(",") if args.levers else
                          [*LEVER_NAMES, SAMPLER_SAME_CORE])
    allowed = sorted(os.sched_getaffinity(0))
    core, spare = allowed[0], allowed[1:2]
    loop = {"precision": 0.02, "min_time_s": args.seconds, "max_time_s": args.seconds,
            "warmup_max_s": 2.0}
    shape = (len(specs), len(chosen), args.rounds)
    medians, others = np.full(shape, np.nan), np.full(shape, np.nan)
    print(f"# {system_memory_settings()}; measured core {core}, spare {spare}; "
          f"{args.seconds:g} s timed per process", flush=True)
    started = time.monotonic()
    with open(args.log, "a") as log:
        for r in range(args.rounds):
            for s in [(r + k) % len(chosen) for k in range(len(chosen))]:
                for p, spec in enumerate(specs):
                    try:
                        got = one_process(spec, chosen[s], loop, core, spare, log)
                    except RuntimeError as e:   # this process is left out
                        print(f"# round {r + 1}, {chosen[s].name}: {e}", flush=True)
                        continue
                    medians[p, s, r], others[p, s, r] = got["median_ms"], got["others"]
            print(f"# round {r + 1}/{args.rounds} done at {time.monotonic() - started:.0f} s",
                  flush=True)
    return {"settings": [c.name for c in chosen], "points": [s.to_dict() for s in specs],
            "median_ms": medians.tolist(), "others": others.tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[-3:]))
    p.add_argument("--points", default=DEFAULT_POINTS,
                   help=f"framework:model:image_size items (default {DEFAULT_POINTS})")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--levers", default="",
                   help=f"comma list of {', '.join(LEVER_NAMES)}, {SAMPLER_SAME_CORE}, "
                        "or levers joined by + to be on together (default: each alone)")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--seconds", type=float, default=0.75, help="timed seconds per process")
    p.add_argument("--max-others", type=float, default=0.05,
                   help="leave out a process during which others took more than this share "
                        "of the measured core (default 0.05)")
    p.add_argument("--draws", type=int, default=4000, help="bootstrap resamples")
    p.add_argument("--log", default="/tmp/spread_levers.log", help="the workers' stderr")
    p.add_argument("--json", default="", help="also write every process's figures here")
    p.add_argument("--from-json", default="", help="print the tables of an earlier --json")
    args = p.parse_args()
    data = json.loads(Path(args.from_json).read_text()) if args.from_json else measure(args)
    if args.json and not args.from_json:
        Path(args.json).write_text(json.dumps(data, allow_nan=True))
    medians, others = np.asarray(data["median_ms"], float), np.asarray(data["others"], float)
    for i, spec in enumerate(data["points"]):
        print("\n".join(table(spec, data["settings"], medians[i], others[i], args.draws,
                              args.max_others)))


if __name__ == "__main__":
    main()
