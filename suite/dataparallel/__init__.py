"""Data-parallel training points (`--nproc-per-node N [--nnodes M]`).

A point whose spec has more than one rank runs under its framework's data-parallel backend
(the adapter's `data_parallel` capability: a module such as `frameworks.pytorch_ddp`).
Batch size is per rank, so one step processes batch x world size items; the point's
throughput is Σ items over the ranks / the slowest rank's timed time, never an average of
per-rank throughputs. The pieces:

- `agent`: the worker process of a data-parallel point on one machine. It speaks the
  runner's JSON-lines protocol (suite.worker) and launches the point's ranks through the
  backend (torch's elastic-launch API, what torchrun runs).
- `rank`: what every rank runs: its own pinned cores and thread count, the process group,
  the same measurement loop with a collective timer, its figures gathered on rank 0.
- `collective`: the collective timer (every rank takes the same stopping decisions, from
  the slowest rank's step times) and the combination of the ranks into one measurement.

A backend module provides: `unsupported(optimization, device)`, `launch(fn, args, nproc,
timeout_s)`, `failure_text(failure)`, `join(device, timeout_s)` (a group with `rank`,
`local_rank`, `world_size`, `backend`, `all_gather_ints`, `gather`, `close`),
`wrap(runnable, group)`, `local_only(runnable)` (a context whose steps skip the
all-reduce: each rank's own compute, for the straggler ratio) and `threads_in_use()`.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from suite.spec import PointSpec

AGENT_MODULE = "suite.dataparallel.agent"


def backend(framework: str) -> ModuleType | None:
    """The data-parallel backend module a framework's adapter declares, or None (imports
    the backend module, not the framework)."""
    import frameworks
    name = getattr(frameworks.adapter_class(framework), "data_parallel", None)
    return importlib.import_module(name) if name else None


def unsupported(spec: PointSpec) -> str | None:
    """Why a data-parallel point cannot run (recorded as skipped), or None."""
    if spec.world_size <= 1:
        return None
    if spec.task != "train":
        return "data-parallel (--nproc-per-node/--nnodes) is defined for training only"
    module = backend(spec.framework)
    if module is None:
        return (f"{spec.framework} has no data-parallel backend in dlbench (pytorch's DDP "
                f"only; MXNet's kvstore is legacy, TensorFlow's multi-worker strategy is "
                f"not implemented)")
    return module.unsupported(spec.optimization, spec.device)


def worker_module(spec: PointSpec) -> str:
    """The worker process a point runs in: the agent that launches its ranks, or the
    single-process worker."""
    return AGENT_MODULE if spec.world_size > 1 else "suite.worker"
