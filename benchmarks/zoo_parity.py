"""Is each dlbench adapter as fast as the framework's own network of the same architecture?

For every framework, optimization, task and architecture that our zoo shares with the
framework's own zoo (see benchmarks/_reference_nets.py: torchvision-style torch.nn
networks, their torch.onnx.export in ONNX Runtime, mxnet.gluon.model_zoo.vision,
keras.applications), it times two loops on the same input:

  dlbench    the network built by the adapter exactly as the suite's worker builds it
             (configure_threads before the import, BuildRequest + make_weights,
             set_inputs), timing runnable.step() + runnable.synchronize()
  reference  the framework's own network as a plain user script writes it (its own
             thread settings and initial values; _reference_nets), timing one step

Each side runs in a process of its own, started fresh for each row and pinned to the same
cores (the first --threads physical cores, as the suite's sequential mapping) with
--threads intra-op threads and 1 inter-op thread: one network per process, as a user's
script has it (two networks in one process shared MXNet's engine and allocator, and the
reference was not what a plain script measures; docs/parity.md). Each process builds its
network and runs --warmup untimed steps, then the parent alternates --repeats rounds of
--iterations steps between them (dlbench first in even rounds, the reference first in odd
ones), the idle process waiting on its pipe, so that machine drift hits both alike. A
round's figure is its median step time, the table shows the median over rounds and the
range of the per-round ratios. ratio = reference ms / dlbench ms: 1.00 is parity, below
1 dlbench makes the framework look slower than it is. ResNet-50 is v1.5 for pytorch/onnx
and the zoo's resnet50_v1 for mxnet and tensorflow (Gluon's and Keras's ResNet50 are v1).
Architecture differences and both parameter counts are listed under the table.

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
import statistics
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from plain_parity import Case, Child, ChildFailed
from plain_parity import row as _row
from suite.errors import UsageError

SCHEMA_VERSION = 2   # 2: one process per side, per-round figures
TASKS = ("infer", "train")


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


# ------------------------------------------------------------------ measuring

def run_case(case: Case, job: dict) -> dict:
    """One row: the adapter's network and the reference, each in a process of its own,
    timed in interleaved rounds (dlbench first in even rounds, the reference in odd)."""
    def row(status: str, message: str = "", **figures: Any) -> dict:
        return _row(case.framework, case.optimization, case.model, case.task,
                    case.image_size, case.batch_size, status, message, **figures)
    children: list[Child] = []
    try:
        children.append(Child(dict(job, role="dlbench", case=asdict(case))))
        dl_ready = children[0].receive()
        if dl_ready["status"] != "ok":
            return dl_ready if dl_ready["model"] == "-" else row(dl_ready["status"],
                                                                 dl_ready["message"])
        children.append(Child(dict(job, role="reference", case=asdict(case),
                                   ort=dl_ready.get("ort"))))
        ref_ready = children[1].receive()
        if ref_ready["status"] != "ok":
            return row(ref_ready["status"], f"reference: {ref_ready['message']}")
        dl_ms, ref_ms = [], []
        for r in range(job["repeats"]):
            sides = [(children[0], dl_ms), (children[1], ref_ms)]
            for child, times in sides[::1 if r % 2 == 0 else -1]:
                times.append(child.steps_ms(job["iterations"]))
    except ChildFailed as e:
        return row("error", str(e))
    finally:
        for child in children:
            child.close()
    ratios = [b / a for a, b in zip(dl_ms, ref_ms)]
    dl, ref = statistics.median(dl_ms), statistics.median(ref_ms)
    return row("ok", dlbench_ms=dl, reference_ms=ref, ratio=ref / dl,
               ratio_low=min(ratios), ratio_high=max(ratios), dlbench_rounds_ms=dl_ms,
               reference_rounds_ms=ref_ms, reference=case.reference,
               dlbench_params=dl_ready["params"], reference_params=ref_ready["params"],
               note=ref_ready["note"])


# ------------------------------------------------------------------ output

def markdown(rows: list[dict], notes: list[str]) -> str:
    """The ratio table, then notes: each pair's reference, parameter counts, differences."""
    from _reference_nets import PAIRS
    lines = ["| framework | opt | model | task | size | batch | dlbench ms | reference ms "
             "| ratio | rounds |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    extra = []
    for r in rows:
        size = r["image_size"] or "-"
        batch = r["batch_size"] or "-"
        if r["status"] == "ok":
            cells = f"{r['dlbench_ms']:.1f} | {r['reference_ms']:.1f} | {r['ratio']:.3f} | " \
                    f"{r['ratio_low']:.2f}-{r['ratio_high']:.2f}"
            pair = next(p for p in PAIRS[r["framework"]].values() if p.reference == r["reference"])
            delta = r["reference_params"] - r["dlbench_params"]
            counts = f"parameters {r['dlbench_params']:,} dlbench, {r['reference_params']:,} " \
                     "reference " + (f"({delta:+,})" if delta else "(equal)")
            text = f"{r['framework']} {r['model']} @{size}: {r['reference']}; {counts}" + \
                (f"; {pair.difference}" if pair.difference else "")
            extra += [text] + ([f"{r['framework']}: {r['note']}"] if r.get("note") else [])
        else:
            cells = f"{r['status']} | — | — | —"
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
    unavailable: set[str] = set()
    for case in cases:
        if case.framework in unavailable:
            continue
        row = run_case(case, job)
        rows.append(row)
        if row["model"] == "-":   # not installed: one row says so
            unavailable.add(case.framework)
        print(f"# {row['framework']} {row['optimization']} {row['model']} {row['task']} "
              f"{row['image_size']} px b{row['batch_size']}: " +
              (f"{row['ratio']:.3f}" if row["status"] == "ok" else row["status"]),
              file=sys.stderr, flush=True)
    print(f"# {threads} threads on cores {cores}; one process per side; {args.warmup} warm-up "
          f"steps per side, then {args.repeats} interleaved rounds of {args.iterations} steps; "
          "median of round medians; ratio = reference / dlbench; rounds: range of the "
          "per-round ratios\n")
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
