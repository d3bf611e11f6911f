"""Is each dlbench adapter as fast as the framework's own network of the same architecture?

For every framework, optimization, task and architecture that our zoo shares with the
framework's own zoo (see benchmarks/_reference_nets.py: torchvision-style torch.nn
networks, their torch.onnx.export in ONNX Runtime, mxnet.gluon.model_zoo.vision,
keras.applications), it times two loops on the same input:

  dlbench    the network built by the adapter exactly as the suite's worker builds it
             (configure_threads before the import, BuildRequest + make_weights,
             set_inputs), timing runnable.step() + runnable.synchronize()
  reference  a plain hand loop over the framework's own network in the framework's idiom

Each framework runs in its own subprocess, pinned to the same cores (the first --threads
physical cores, as the suite's sequential mapping) with --threads intra-op threads and 1
inter-op thread; both networks are built in that process. After --warmup untimed steps per
side, --repeats interleaved rounds (dlbench, reference, dlbench, ...) of --iterations steps
each; a round's figure is its median step time, the table shows the median over rounds.
ratio = reference ms / dlbench ms: 1.00 is parity, below 1 dlbench makes the framework look
slower than it is. ResNet-50 is v1.5 for pytorch/onnx and the zoo's resnet50_v1 for mxnet
and tensorflow (Gluon's and Keras's ResNet50 are v1). Architecture differences and both
parameter counts are listed under the table.

Full run (every framework, optimization and shared architecture, default and 112 px;
hours on 2 cores, VGG16 training at 224 px takes seconds per step):

    python benchmarks/zoo_parity.py --image-size default,112 --json results/zoo_parity.json

Quick check that every path works (minutes):

    python benchmarks/zoo_parity.py --models resnet50 --image-size 64 --iterations 3 \\
        --repeats 2 --warmup 1
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from suite.errors import UsageError

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 1
TASKS = ("infer", "train")


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


def default_batch(task: str, arch: str) -> int:
    """The issue's settings: VGG16 inference one image, everything else 8."""
    return 1 if task == "infer" and arch == "vgg16" else 8


# ------------------------------------------------------------------------ planning

def plan(args: argparse.Namespace) -> tuple[list[str], list[Case], list[dict], list[str]]:
    """(frameworks, cases to run, rows skipped up front, notes) from validated options."""
    import frameworks
    from _reference_nets import ARCHS, PAIRS
    from suite import options as opt
    fws = opt.parse_names(args.frameworks, "--frameworks", frameworks.REGISTRY,
                          frameworks.ALIASES)
    archs = opt.parse_names(args.models, "--models", ARCHS)
    tasks = opt.parse_names(args.tasks, "--tasks", TASKS)
    opts = opt.parse_names(args.opts, "--opts", frameworks.OPTIMIZATIONS) if args.opts else []
    sizes = _sizes(args.image_size)
    cases, skipped, notes = [], [], []
    for fw in fws:
        try:
            adapter = frameworks.get_adapter(fw)
        except ImportError as e:
            skipped.append(_row(fw, "-", "-", "-", 0, 0, "skipped", f"adapter: {e}"))
            continue
        notes += [f"{fw}: the framework's own zoo has no {a}; not compared"
                  for a in archs if a not in PAIRS[fw]]
        shared = [a for a in archs if a in PAIRS[fw]]
        for task in tasks:
            runnable_opts, rows = _optimizations(fw, adapter, task, opts)
            skipped += rows
            for o, arch, size in itertools.product(runnable_opts, shared, sizes):
                pair = PAIRS[fw][arch]
                size, note = _size(pair.zoo_model, size)
                notes += [note] if note else []
                cases.append(Case(fw, o, arch, pair.zoo_model, pair.reference, task, size,
                                  args.batch or default_batch(task, arch)))
    return fws, list(dict.fromkeys(cases)), skipped, list(dict.fromkeys(notes))


def _optimizations(fw: str, adapter: Any, task: str, wanted: list[str]
                   ) -> tuple[list[str], list[dict]]:
    """(the optimizations to run for `task`, skipped rows for the others)."""
    if task not in adapter.optimizations:   # e.g. ONNX Runtime training: one row
        reason = adapter.unsupported(task, "none", "cpu") or f"{fw} has no {task}"
        return [], [_row(fw, "-", "-", task, 0, 0, "skipped", reason)]
    run, skipped = [], []
    for o in wanted or adapter.optimizations[task]:
        reason = adapter.unsupported(task, o, "cpu")
        if reason:
            skipped.append(_row(fw, o, "-", task, 0, 0, "skipped", reason))
        else:
            run.append(o)
    return run, skipped


def _size(model: str, size: int) -> tuple[int, str]:
    """(image size for `model`, note): 0 = its default; a too small size is raised."""
    from suite.models import zoo
    size = size or zoo.default_input_size(model)
    low = zoo.min_input_size(model)
    if size < low:
        return low, f"{model}: image size {size} raised to its minimum {low}"
    return size, ""


def _sizes(text: str) -> list[int]:
    """--image-size: a comma list of sizes and "default" (0 here: each model's own)."""
    sizes = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == "default":
            sizes.append(0)
        elif item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        else:
            raise UsageError(f"--image-size: malformed value {item!r}; expected positive "
                             "integers and 'default', e.g. default,112")
    return list(dict.fromkeys(sizes))


def _row(fw: str, o: str, model: str, task: str, size: int, batch: int, status: str,
         message: str = "", **figures: Any) -> dict:
    return {"framework": fw, "optimization": o, "model": model, "task": task,
            "image_size": size, "batch_size": batch, "status": status, "message": message,
            **figures}


# ------------------------------------------------------------------ parent side

def run_framework(fw: str, cases: list[Case], job: dict) -> Iterator[dict]:
    """Run one framework's cases in a fresh pinned worker; yields one row per case."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join(
        p for p in (str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p))
    code = "import sys, zoo_parity; sys.exit(zoo_parity.worker_main())"
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(dict(job, framework=fw,
                                         cases=[asdict(c) for c in cases])) + "\n")
        proc.stdin.close()
        done, unavailable = 0, False
        for line in proc.stdout:
            row = json.loads(line)
            done += 1
            unavailable = row["model"] == "-"   # not installed: one row says so
            yield row
        code_ = proc.wait()
        if done < len(cases) and not unavailable:
            log.seek(0)
            tail = [ln for ln in log.read().splitlines() if ln.strip()][-1:] or ["no output"]
            for c in cases[done:]:
                yield _row(fw, c.optimization, c.model, c.task, c.image_size, c.batch_size,
                           "error", f"worker exited with code {code_}: {tail[0][:300]}")


# ------------------------------------------------------------------ worker side

def worker_main() -> int:
    """One framework's cases: pin, configure threads, import, then measure each case."""
    out = os.fdopen(os.dup(1), "w", buffering=1)   # framework chatter goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.readline())
    from suite.worker import apply_placement
    apply_placement({"cores": job["cores"]})
    import frameworks
    from frameworks.base import describe
    adapter = frameworks.get_adapter(job["framework"])
    adapter.configure_threads(job["threads"], 1)
    available = adapter.availability()
    if not available.ok:
        out.write(json.dumps(_row(job["framework"], "-", "-", "-", 0, 0, "skipped",
                                  f"{available.reason} ({available.install})")) + "\n")
        return 0
    for case in (Case(**c) for c in job["cases"]):
        try:
            row = measure(adapter, case, job)
        except Exception as e:  # noqa: BLE001 - one failed case is a row, not a crash
            import traceback
            traceback.print_exc()
            row = _row(case.framework, case.optimization, case.model, case.task,
                       case.image_size, case.batch_size, "error", describe(e))
        out.write(json.dumps(row) + "\n")
    return 0


def measure(adapter: Any, case: Case, job: dict) -> dict:
    """Build both networks, time them in interleaved rounds, return the row."""
    import gc

    import numpy as np

    import _reference_nets
    from fidelity import compare
    from frameworks.base import BuildRequest
    from suite._native import time_calls
    from suite.models import zoo
    from suite.models.weights import make_weights
    from suite.worker import synthetic_inputs

    model = zoo.get_model(case.model, case.image_size)
    request = BuildRequest(model=model, weights=make_weights(model, 0), task=case.task,
                           optimization=case.optimization, batch_size=case.batch_size)
    runnable = adapter.build(request)
    del request   # as the worker: the framework holds its own copy of the weights now
    gc.collect()
    inputs, labels = synthetic_inputs(model, case.batch_size, 0)
    runnable.set_inputs(inputs, labels if case.task == "train" else None)
    ref = _reference_nets.build(case.framework, case.arch, case.task, case.optimization,
                                inputs["data"], labels, zoo.default_input_size(case.model),
                                runnable)

    def dlbench_step() -> None:
        runnable.step()
        runnable.synchronize()

    def median_ns(fn: Any, n: int) -> float:
        return float(np.median(time_calls(fn, n)))

    dl_ms, ref_ms, _ = compare(dlbench_step, (case.reference, ref.step, ref.context),
                               job["iterations"], job["repeats"], job["warmup"], median_ns)
    row = _row(case.framework, case.optimization, case.model, case.task, case.image_size,
               case.batch_size, "ok", dlbench_ms=dl_ms, reference_ms=ref_ms,
               ratio=ref_ms / dl_ms, reference=case.reference,
               dlbench_params=runnable.param_count(), reference_params=ref.param_count,
               note=ref.note)
    del runnable, ref
    gc.collect()
    return row


# ------------------------------------------------------------------ output

def markdown(rows: list[dict], notes: list[str]) -> str:
    """The ratio table, then notes: each pair's reference, parameter counts, differences."""
    from _reference_nets import PAIRS
    lines = ["| framework | opt | model | task | size | batch | dlbench ms | reference ms "
             "| ratio |", "|---|---|---|---|---:|---:|---:|---:|---:|"]
    extra = []
    for r in rows:
        size = r["image_size"] or "-"
        batch = r["batch_size"] or "-"
        if r["status"] == "ok":
            cells = f"{r['dlbench_ms']:.1f} | {r['reference_ms']:.1f} | {r['ratio']:.2f}"
            pair = next(p for p in PAIRS[r["framework"]].values() if p.reference == r["reference"])
            delta = r["reference_params"] - r["dlbench_params"]
            counts = f"parameters {r['dlbench_params']:,} dlbench, {r['reference_params']:,} " \
                     "reference " + (f"({delta:+,})" if delta else "(equal)")
            text = f"{r['framework']} {r['model']} @{size}: {r['reference']}; {counts}" + \
                (f"; {pair.difference}" if pair.difference else "")
            extra += [text] + ([f"{r['framework']}: {r['note']}"] if r.get("note") else [])
        else:
            cells = f"{r['status']} | — | —"
            extra.append(f"{r['framework']} {r['optimization']} {r['model']} {r['task']}: "
                         f"{r['status']}: {r['message']}")
        lines.append(f"| {r['framework']} | {r['optimization']} | {r['model']} | {r['task']} "
                     f"| {size} | {batch} | {cells} |")
    notes = list(dict.fromkeys(notes + extra))
    return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else []))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[-9:]))
    p.add_argument("--frameworks", default="pytorch,mxnet,tensorflow,onnx")
    p.add_argument("--models", default="resnet50,vgg16,squeezenet,inception_v3",
                   help="architectures (resnet50 = v1.5 for pytorch/onnx, v1 for mxnet/tf)")
    p.add_argument("--tasks", default="infer,train")
    p.add_argument("--opts", default="", help="default: every optimization each adapter has")
    p.add_argument("--image-size", default="default",
                   help="comma list of sizes; 'default' = each model's own (224, 299)")
    p.add_argument("--batch", type=int, default=0,
                   help="default: 1 for VGG16 inference, else 8")
    p.add_argument("--iterations", type=int, default=10, help="timed steps per round and side (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per side first (default %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="default: all physical cores")
    p.add_argument("--json", default="", help="also write the rows to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from suite.topology import core_list, read_topology
    try:
        for name in ("batch", "threads", "warmup"):
            if getattr(args, name) < 0:
                raise UsageError(f"--{name}: {getattr(args, name)} is below 0")
        for name in ("iterations", "repeats"):
            if getattr(args, name) < 1:
                raise UsageError(f"--{name}: {getattr(args, name)} is below the minimum 1")
        topo = read_topology()
        threads = args.threads or topo.physical_cores
        cores = core_list(topo, threads, "sequential", False)
        fws, cases, rows, notes = plan(args)
    except UsageError as e:
        print(f"zoo_parity: {e}", file=sys.stderr)
        return 2
    job = {"threads": threads, "cores": cores, "iterations": args.iterations,
           "repeats": args.repeats, "warmup": args.warmup}
    for fw in dict.fromkeys(c.framework for c in cases):
        for row in run_framework(fw, [c for c in cases if c.framework == fw], job):
            rows.append(row)
            print(f"# {row['framework']} {row['optimization']} {row['model']} {row['task']} "
                  f"{row['image_size']} px b{row['batch_size']}: " +
                  (f"{row['ratio']:.3f}" if row["status"] == "ok" else row["status"]),
                  file=sys.stderr, flush=True)
    print(f"# {threads} threads on cores {cores}; {args.warmup} warm-up steps per side, then "
          f"{args.repeats} interleaved rounds of {args.iterations} steps; median of round "
          f"medians; ratio = reference / dlbench\n")
    rows.sort(key=lambda r: fws.index(r["framework"]))   # stable: run order within each
    print(markdown(rows, notes))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"schema_version": SCHEMA_VERSION, "command": sys.argv, "settings": job,
             "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
