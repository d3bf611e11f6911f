"""Is a dlbench CLI point as fast as a plain user script, each in a process of its own?

For ResNet-50 (v1.5 for pytorch/onnx, the zoo's resnet50_v1 against Gluon's and Keras's
v1) it compares, per framework and task, in the framework's deployed optimization:

  plain  a fresh process running the framework's own network as a user script writes it
         (benchmarks/_reference_nets.py: its own thread settings and initial values,
         torch.nn / gluon.model_zoo / keras.applications / an ORT session of the torch
         export), pinned to the same cores as the CLI's worker, --warmup untimed steps,
         then the median of --iterations timed steps
  cli    `python -m suite train|infer --frameworks F --models M --opts O --batches B
         --image-size S --threads T --processes 1 --no-report --quiet --out TMP` (plus
         --cli-args): the whole harness, its figure the point's median step time

The machine drifts (and on a shared 2-core machine, other work comes and goes), so the
comparison runs in --rounds rounds, the rows inside each round in turn, and inside each
row the plain process and the CLI alternate which goes first. ratio = plain ms / CLI ms
per round (1.00 is parity, below 1 the CLI shows the framework slower than a user sees
it); the table gives the median of the per-round ratios and their range.

This module also holds the measuring process that benchmarks/zoo_parity.py runs for each
side of its rows (`worker_main`: one network per process, built, warmed up, then timed on
request) and the `Child` that drives it.

    python benchmarks/plain_parity.py --frameworks mxnet --tasks train --rounds 5
    python benchmarks/plain_parity.py --rounds 3 --json results/plain_parity.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 1
RESNET50 = {"pytorch": "resnet50", "onnx": "resnet50", "mxnet": "resnet50_v1",
            "tensorflow": "resnet50_v1"}


@dataclass(frozen=True)
class Case:
    """One comparison: a framework's adapter against its own network."""

    framework: str
    optimization: str
    arch: str
    model: str          # the zoo model dlbench builds
    reference: str      # the framework's own network
    task: str
    image_size: int
    batch_size: int


def row(fw: str, o: str, model: str, task: str, size: int, batch: int, status: str,
        message: str = "", **figures: Any) -> dict:
    return {"framework": fw, "optimization": o, "model": model, "task": task,
            "image_size": size, "batch_size": batch, "status": status, "message": message,
            **figures}


class ChildFailed(Exception):
    """A measuring process ended without answering."""


class Child:
    """One measuring process (`worker_main`) and its JSON-lines channel."""

    CODE = "import sys, plain_parity; sys.exit(plain_parity.worker_main())"

    def __init__(self, job: dict) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join(
            p for p in (str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p))
        self._log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     env=env)
        self.send(job)

    def send(self, msg: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line:
            return json.loads(line)
        code = self.proc.wait()
        self._log.seek(0)
        tail = [ln for ln in self._log.read().splitlines() if ln.strip()][-1:] or ["no output"]
        raise ChildFailed(f"worker exited with code {code}: {tail[0][:300]}")

    def steps_ms(self, steps: int) -> float:
        """The median ms of `steps` timed steps."""
        self.send({"steps": steps})
        return self.receive()["ms"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        self.proc.wait()
        self._log.close()


# ------------------------------------------------------------- measuring process

def worker_main() -> int:
    """One side of one case: pin, set threads, import, build, warm up, answer `ready`;
    then each {"steps": n} is answered with the median ms of n timed steps."""
    out = os.fdopen(os.dup(1), "w", buffering=1)   # framework chatter goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.readline())
    case = Case(**job["case"])
    from suite.worker import apply_placement
    apply_placement({"cores": job["cores"]})
    import numpy as np

    from frameworks.base import describe
    from suite._native import time_calls
    try:
        side = _dlbench_side if job["role"] == "dlbench" else _reference_side
        ready, step, context = side(case, job)
        if step is not None:
            with context():
                time_calls(step, job["warmup"])
    except Exception as e:  # noqa: BLE001 - a failed build is a row, not a crash
        import traceback
        traceback.print_exc()
        ready, step = row(case.framework, case.optimization, case.model, case.task,
                          case.image_size, case.batch_size, "error", describe(e)), None
    out.write(json.dumps(ready) + "\n")
    for line in sys.stdin if step is not None else ():
        with context():
            ns = time_calls(step, json.loads(line)["steps"])
        out.write(json.dumps({"ms": float(np.median(ns)) / 1e6}) + "\n")
    return 0


def _dlbench_side(case: Case, job: dict) -> tuple[dict, Any, Any]:
    """(ready message, step, context): the adapter's network, built as the suite's worker
    builds a point (configure_threads before the import, make_weights, set_inputs)."""
    import gc

    import frameworks
    from frameworks.base import BuildRequest
    from suite.models import zoo
    from suite.models.weights import make_weights
    from suite.worker import synthetic_inputs
    adapter = frameworks.get_adapter(case.framework)
    adapter.configure_threads(job["threads"], 1)
    available = adapter.availability()
    if not available.ok:
        return row(case.framework, "-", "-", "-", 0, 0, "skipped",
                   f"{available.reason} ({available.install})"), None, None
    model = zoo.get_model(case.model, case.image_size)
    request = BuildRequest(model=model, weights=make_weights(model, 0), task=case.task,
                           optimization=case.optimization, batch_size=case.batch_size)
    runnable = adapter.build(request)
    del request   # as the worker: the framework holds its own copy of the weights now
    gc.collect()
    inputs, labels = synthetic_inputs(model, case.batch_size, 0)
    runnable.set_inputs(inputs, labels if case.task == "train" else None)

    def step() -> None:
        runnable.step()
        runnable.synchronize()
    ready: dict[str, Any] = {"status": "ok", "params": runnable.param_count()}
    if case.framework == "onnx":   # the reference's session gets the same options
        o = runnable.session.get_session_options()
        ready["ort"] = {"level": o.graph_optimization_level.name,
                        "intra": o.intra_op_num_threads, "inter": o.inter_op_num_threads}
    return ready, step, contextlib.nullcontext


def _reference_side(case: Case, job: dict) -> tuple[dict, Any, Any]:
    """(ready message, step, context): the framework's own network as a plain script
    writes it, on the same synthetic inputs."""
    import _reference_nets
    from suite.models import zoo
    from suite.worker import synthetic_inputs
    _reference_nets.set_threads(case.framework, job["threads"])
    model = zoo.get_model(case.model, case.image_size)
    inputs, labels = synthetic_inputs(model, case.batch_size, 0)
    ref = _reference_nets.build(case.framework, case.arch, case.task, case.optimization,
                                inputs["data"], labels, zoo.default_input_size(case.model),
                                job.get("ort") or _reference_nets.ort_options(
                                    case.optimization, job["threads"]))
    return {"status": "ok", "params": ref.param_count, "note": ref.note}, ref.step, ref.context


# ------------------------------------------------------------- plain script vs the CLI

def plan(frameworks_: str, tasks: str, batch: int, size: int) -> list[Case]:
    """ResNet-50 per framework and task, in the framework's deployed optimization."""
    import frameworks
    from _reference_nets import PAIRS
    from suite import options as opt
    cases = []
    for fw in opt.parse_names(frameworks_, "--frameworks", frameworks.REGISTRY,
                              frameworks.ALIASES):
        for task in opt.parse_names(tasks, "--tasks", ("infer", "train")):
            o = frameworks.deployed_optimization(fw, task)
            if frameworks.adapter_class(fw)().unsupported(task, o, "cpu") is None:
                pair = PAIRS[fw]["resnet50"]
                cases.append(Case(fw, o, "resnet50", pair.zoo_model, pair.reference, task,
                                  size, batch))
    return cases


def plain_ms(case: Case, job: dict) -> float:
    """A fresh plain-script process: build, warm up, median of --iterations steps."""
    child = Child(dict(job, role="reference", case=asdict(case)))
    try:
        ready = child.receive()
        if ready["status"] != "ok":
            raise ChildFailed(f"plain script: {ready['message']}")
        return child.steps_ms(job["iterations"])
    finally:
        child.close()


def cli_ms(case: Case, job: dict, extra: list[str]) -> float:
    """The CLI's point in one fresh worker process: its median step time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "suite", case.task, "--frameworks", case.framework,
               "--models", case.model, "--opts", case.optimization, "--batches",
               str(case.batch_size), "--image-size", str(case.image_size), "--threads",
               str(job["threads"]), "--processes", "1", "--no-report", "--quiet",
               "--out", str(out), *extra]
        done = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
        points = out / "points.jsonl"
        lines = points.read_text().splitlines() if points.exists() else []
        if done.returncode != 0 or not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ChildFailed(f"cli exited with code {done.returncode}: {tail[:300]}")
        point = json.loads(lines[-1])
        if point["status"] != "ok":
            raise ChildFailed(f"cli point {point['status']}: {point['message'][:300]}")
        return float(point["summary"]["median_ms"])


def measure(cases: list[Case], job: dict, rounds: int, extra: list[str]) -> list[dict]:
    """Rows after `rounds` rounds over every case (plain and CLI alternating first)."""
    times: dict[Case, dict[str, list[float]]] = {c: {"plain": [], "cli": []} for c in cases}
    errors: dict[Case, str] = {}
    for r in range(rounds):
        for i, case in enumerate(cases):
            if case in errors:
                continue
            sides = [("plain", lambda c=case: plain_ms(c, job)),
                     ("cli", lambda c=case: cli_ms(c, job, extra))]
            try:
                for side, fn in sides[::1 if (r + i) % 2 == 0 else -1]:
                    times[case][side].append(fn())
            except ChildFailed as e:
                errors[case] = str(e)
                continue
            t = times[case]
            print(f"# round {r + 1}: {case.framework} {case.task}: plain {t['plain'][-1]:.1f} "
                  f"ms, cli {t['cli'][-1]:.1f} ms, {t['plain'][-1] / t['cli'][-1]:.3f}",
                  file=sys.stderr, flush=True)
    rows = []
    for case in cases:
        base = (case.framework, case.optimization, case.model, case.task, case.image_size,
                case.batch_size)
        if case in errors:
            rows.append(row(*base, "error", errors[case]))
            continue
        plain, cli = times[case]["plain"], times[case]["cli"]
        ratios = [p / c for p, c in zip(plain, cli)]
        rows.append(row(*base, "ok", reference=case.reference, plain_ms=statistics.median(plain),
                        cli_ms=statistics.median(cli), ratio=statistics.median(ratios),
                        ratio_low=min(ratios), ratio_high=max(ratios), plain_rounds_ms=plain,
                        cli_rounds_ms=cli))
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| framework | opt | model | task | size | batch | plain ms | CLI ms | ratio "
             "(median) | range |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = (f"{r['plain_ms']:.1f} | {r['cli_ms']:.1f} | {r['ratio']:.3f} | "
                 f"{r['ratio_low']:.3f}-{r['ratio_high']:.3f}") if r["status"] == "ok" \
            else f"{r['status']}: {r['message']} | | | "
        lines.append(f"| {r['framework']} | {r['optimization']} | {r['model']} | {r['task']} "
                     f"| {r['image_size']} | {r['batch_size']} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[-3:]))
    p.add_argument("--frameworks", default="pytorch,tensorflow,mxnet,onnx")
    p.add_argument("--tasks", default="train,infer")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=20, help="timed plain steps (%(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="untimed plain steps (%(default)s)")
    p.add_argument("--cli-args", default="", help="more options for the CLI, one string")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    from suite.errors import UsageError
    from suite.topology import core_list, read_topology
    try:
        for name in ("batch", "image_size", "threads", "rounds", "iterations"):
            if getattr(args, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')}: below the minimum 1")
        cases = plan(args.frameworks, args.tasks, args.batch, args.image_size)
        cores = core_list(read_topology(), args.threads, "sequential", False)
    except UsageError as e:
        print(f"plain_parity: {e}", file=sys.stderr)
        return 2
    job = {"threads": args.threads, "cores": cores, "iterations": args.iterations,
           "warmup": max(0, args.warmup)}
    rows = measure(cases, job, args.rounds, shlex.split(args.cli_args))
    print(f"# {args.threads} threads on cores {cores}; {args.rounds} rounds; plain: "
          f"{args.warmup} warm-up + {args.iterations} timed steps in a fresh process; CLI: "
          f"one worker process; ratio = plain / CLI per round\n")
    print(markdown(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"schema_version": SCHEMA_VERSION, "command": sys.argv, "settings": job,
             "cli_args": args.cli_args, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
