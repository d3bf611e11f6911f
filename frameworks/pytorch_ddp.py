"""PyTorch's data-parallel backend: torch.distributed (gloo on CPU, nccl on CUDA) and DDP.

The pytorch adapter's `data_parallel` capability. dlbench's rank driver
(`suite.dataparallel.rank`) calls `join` in every rank, `wrap` on a built training runnable
(DistributedDataParallel around the same module, the same torch.optim.SGD over the same
parameters), and the group's collectives for its common stopping decisions and results.
`launch` starts the ranks of one node through torch.distributed's elastic-launch API, the
API torchrun runs; on Slurm the ranks are Slurm tasks instead, with the same env://
variables (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
"""
from __future__ import annotations

import datetime
import os
import uuid
from typing import Any, Callable

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
OPTIMIZATIONS = ("none",)


def unsupported(optimization: str, device: str) -> str | None:
    """Why a data-parallel point cannot run (recorded as skipped), or None."""
    if optimization not in OPTIMIZATIONS:
        return (f"data-parallel training runs eager PyTorch (DDP) only, not "
                f"{optimization!r}: DDP cannot wrap a TorchScript module, and a compiled "
                f"DDP is not measured by dlbench")
    if device not in BACKENDS:
        return f"data-parallel training runs on {', '.join(BACKENDS)}, not {device!r}"
    return None


def launch(fn: Callable[..., Any], args: tuple, nproc: int,
           timeout_s: float) -> tuple[Any, dict[int, str]]:
    """Run `fn(*args)` in `nproc` ranks on this node through the elastic-launch API (a
    standalone rendezvous, as `torchrun --standalone`; no restarts). Returns rank 0's
    return value and, when ranks failed, each failed rank's message (the agent stops the
    other ranks as soon as one fails)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
        rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0",
        rdzv_configs={"timeout": int(max(60, timeout_s))}, max_restarts=0,
        monitor_interval=0.1, start_method="spawn")
    try:
        results = elastic_launch(config, fn)(*args)
    except ChildFailedError as e:
        return None, {rank: failure_text(f) for rank, f in sorted(e.failures.items())}
    return results.get(0), {}


def failure_text(failure: Any) -> str:
    """One line for a failed rank: its exception ("RuntimeError: ...") or its exit."""
    message = failure.message
    if isinstance(message, dict):
        message = message.get("message") or ""
    text = str(message or "").strip().splitlines()
    if text and not text[0].startswith("To enable traceback"):
        return text[0][:500]
    if failure.exitcode is not None and failure.exitcode < 0:
        return f"killed by signal {-failure.exitcode}"
    return f"exited with code {failure.exitcode}"


class Group:
    """This rank's membership of the process group, and the collectives dlbench needs."""

    def __init__(self, device: str, timeout_s: float) -> None:
        import torch
        import torch.distributed as dist
        self._torch, self._dist = torch, dist
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self._device = torch.device("cpu")
        if device == "cuda":
            gpus = torch.cuda.device_count()
            if self.local_rank >= gpus:     # one GPU per rank: nccl refuses shared ones
                raise RuntimeError(f"local rank {self.local_rank} needs GPU {self.local_rank}; "
                                   f"this node has {gpus} (one GPU per rank: "
                                   f"--nproc-per-node <= {gpus})")
            torch.cuda.set_device(self.local_rank)
            self._device = torch.device("cuda", self.local_rank)
        dist.init_process_group(BACKENDS[device],
                                timeout=datetime.timedelta(seconds=max(30.0, timeout_s)))
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.backend = dist.get_backend()

    def all_gather_ints(self, values: list[int]) -> list[list[int]]:
        """Every rank's list (all of the same length), in rank order."""
        torch = self._torch
        mine = torch.tensor(values, dtype=torch.int64, device=self._device)
        parts = [torch.empty_like(mine) for _ in range(self.world_size)]
        self._dist.all_gather(parts, mine)
        return [[int(v) for v in p.cpu().tolist()] for p in parts]

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's object on rank 0 (None on the others)."""
        out = [None] * self.world_size if self.rank == 0 else None
        self._dist.gather_object(obj, out, dst=0)
        return out

    def close(self) -> None:
        if self._dist.is_initialized():
            self._dist.destroy_process_group()


def join(device: str, timeout_s: float) -> Group:
    """Join the process group of this point (env:// rendezvous)."""
    return Group(device, timeout_s)


def wrap(runnable: Any, group: Group) -> None:
    """Make a built pytorch training runnable data-parallel: DDP around its module, whose
    parameters the runnable's SGD optimizer already holds (DDP averages the gradients over
    the ranks in backward, so each step is one SGD step on the ranks' concatenated batch)."""
    from torch.nn.parallel import DistributedDataParallel
    module = runnable.native
    ids = [group.local_rank] if next(module.parameters()).is_cuda else None
    runnable.native = DistributedDataParallel(module, device_ids=ids)


def local_only(runnable: Any) -> Any:
    """A context in which the runnable's steps skip the all-reduce (DDP's no_sync): each
    rank's own compute, for the straggler ratio."""
    return runnable.native.no_sync()


def threads_in_use() -> int:
    """The intra-op thread count torch runs with in this process."""
    import torch
    return int(torch.get_num_threads())
