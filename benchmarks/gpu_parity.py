"""Is a dlbench point as fast as a plain user loop over torchvision's ResNet-50?

For inference and for SGD training: a hand loop (benchmarks/gpu_probes.py hand-loop: the
network, the default stream, torch.cuda.Event per step), then the dlbench CLI point
(`python -m suite infer|train --models resnet50 ...` with two fresh processes), then the
hand loop again, each in a process of its own. Printed per task, as one JSON line:

  latency ratio     hand-loop median ms / dlbench median ms (CUDA events per step)
  throughput ratio  dlbench items/s / hand-loop items/s (windows of steps, one sync each)

1.00 is parity; below 0.98 dlbench makes PyTorch look slower than a user's own script.

    python benchmarks/gpu_parity.py --out /tmp/parity
    python benchmarks/gpu_parity.py --out /tmp/parity --device cpu --size 32 --batch 2
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from suite import stats, storage

HERE = Path(__file__).resolve().parent
RATIO_FLOOR = 0.98


def hand_loop(device: str, task: str, batch: int, size: int, seconds: float,
              threads: int) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "gpu_probes.py"), "hand-loop",
                          "--device", device, "--task", task, "--batch", str(batch),
                          "--size", str(size), "--seconds", str(seconds),
                          "--threads", str(threads)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"hand loop failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def dlbench_point(device: str, task: str, batch: int, size: int, seconds: float,
                  threads: int, run_dir: Path, processes: int = 2, min_steps: int = 20) -> dict:
    argv = [sys.executable, "-m", "suite", task, "--device", device, "--frameworks", "pytorch",
            "--models", "resnet50", "--batches", str(batch), "--image-size", str(size),
            "--processes", str(processes), "--max-processes", str(processes),
            "--min-time", str(seconds), "--max-time", str(2 * seconds),
            "--min-steps", str(min_steps), "--out", str(run_dir), "--no-report", "--quiet"]
    if threads:
        argv += ["--threads", str(threads)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"dlbench failed: {out.stderr.strip().splitlines()[-1:]}")
    m = storage.load_measurements(run_dir)[-1]
    if m.status != "ok":
        raise RuntimeError(f"dlbench point {m.status}: {m.message}")
    s = stats.point_summary(m)
    return {"median_ms": s.median_ms, "items_per_second": s.items_per_second,
            "basis": s.basis, "timing": m.meta.get("device_timing"),
            "params": m.meta.get("param_count")}


def compare(device: str, task: str, batch: int, size: int, seconds: float, threads: int,
            out: Path, processes: int = 2, min_steps: int = 20, bracket: bool = True) -> dict:
    """The hand loop before and (with `bracket`, so a drift shows) after dlbench's point."""
    first = hand_loop(device, task, batch, size, seconds, threads)
    ours = dlbench_point(device, task, batch, size, seconds, threads, out / task, processes,
                         min_steps)
    second = hand_loop(device, task, batch, size, seconds, threads) if bracket else first
    hand_ms = statistics.median([first["median_ms"], second["median_ms"]])
    hand_ips = statistics.median([first["items_per_second"], second["items_per_second"]])
    return {"task": task, "batch": batch, "size": size, "reference": first["network"],
            "reference_params": first["params"], "dlbench_params": ours["params"],
            "hand_ms": [first["median_ms"], second["median_ms"]],
            "dlbench_ms": ours["median_ms"], "dlbench_timing": ours["timing"],
            "latency_ratio": hand_ms / ours["median_ms"],
            "throughput_ratio": ours["items_per_second"] / hand_ips,
            "hand_items_per_second": [first["items_per_second"], second["items_per_second"]],
            "dlbench_items_per_second": ours["items_per_second"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--tasks", default="infer,train")
    p.add_argument("--processes", type=int, default=2, help="dlbench's processes per point")
    p.add_argument("--min-steps", type=int, default=20, help="dlbench's least timed steps")
    p.add_argument("--no-bracket", action="store_true",
                   help="one hand loop before dlbench, none after (the CPU dry run): "
                        "ratios without a verdict (pass null)")
    a = p.parse_args()
    threads = 0 if a.device == "cuda" else 1
    rows, errors = [], {}
    for task in a.tasks.split(","):
        try:
            rows.append(compare(a.device, task, a.batch, a.size, a.seconds, threads, a.out,
                                a.processes, a.min_steps, not a.no_bracket))
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as e:
            errors[task] = str(e)
    for r in rows:
        print(f"{r['task']}: hand loop {r['hand_ms']} ms, dlbench {r['dlbench_ms']:.3f} ms "
              f"({r['dlbench_timing']}): latency ratio {r['latency_ratio']:.3f}, throughput "
              f"ratio {r['throughput_ratio']:.3f}", file=sys.stderr)
    # unbracketed (the CPU dry run: tiny sizes, a fraction of a second) there is no verdict
    passed = None if a.no_bracket else not errors and all(
        min(r["latency_ratio"], r["throughput_ratio"]) >= RATIO_FLOOR for r in rows)
    print(json.dumps({"status": "ok" if not errors else "error", "rows": rows,
                      "errors": errors, "floor": RATIO_FLOOR, "pass": passed}))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
