"""The scale-out options of `train` / `infer`: `--launcher`, `--slurm-*`, and for training
`--nproc-per-node` / `--nnodes` (data-parallel); parsed into plain values for SweepConfig."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from suite import options as opt
from suite.errors import UsageError
from suite.launchers import LAUNCHERS


def add_arguments(p: argparse.ArgumentParser, task: str) -> None:
    g = p.add_argument_group("where to run (scale-out)")
    g.add_argument("--launcher", default="local",
                   help="local (default): worker processes on this machine; slurm: each "
                        "point a Slurm job (submitted through submitit, an exclusive node "
                        "each) writing into the run folder, which must be on shared storage; "
                        "a job runs its point's processes back to back (--schedule "
                        "sequential)")
    g.add_argument("--slurm-partition", help="Slurm partition (default: the cluster's default)")
    g.add_argument("--slurm-time", type=int, metavar="MINUTES",
                   help="time limit per job (default: --timeout x points x --max-processes "
                        "+ 5 min)")
    g.add_argument("--slurm-gpus-per-node", type=int, metavar="N", help="GPUs per node")
    g.add_argument("--slurm-param", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra sbatch parameter (repeatable), e.g. --slurm-param "
                        "account=myproj --slurm-param qos=high --slurm-param constraint=a100; "
                        "a bare KEY is a flag (--slurm-param requeue)")
    g.add_argument("--slurm-shared", action="store_true",
                   help="do not ask for exclusive nodes (measurements may then share a node)")
    if task == "train":
        g.add_argument("--nproc-per-node", metavar="N",
                       help="data-parallel training (pytorch DDP under torch.distributed, "
                            "gloo on CPU, nccl on CUDA): ranks per node, e.g. 2, or 1,2,4 "
                            "for a scaling sweep. The batch size is per rank; each rank runs "
                            "--threads threads on its own cores")
        g.add_argument("--nnodes", type=int, default=1, metavar="M",
                       help="nodes per data-parallel point (default 1; more need "
                            "--launcher slurm: one Slurm task per rank)")


@dataclass
class ScaleOut:
    launcher: str = "local"
    slurm: dict[str, Any] = field(default_factory=dict)
    nproc_per_node: list[int] = field(default_factory=lambda: [1])
    nnodes: int = 1


def resolve(args: argparse.Namespace) -> ScaleOut:
    """Validate the scale-out options (UsageError naming the valid values)."""
    launcher = opt.parse_choice(args.launcher, "--launcher", LAUNCHERS)
    nproc = opt.parse_ints(args.nproc_per_node, "--nproc-per-node", maximum=4096) \
        if getattr(args, "nproc_per_node", None) is not None else [1]
    nnodes = int(opt.check_range(getattr(args, "nnodes", 1), "--nnodes", 1, 100_001))
    if nnodes > 1 and launcher != "slurm":
        raise UsageError(f"--nnodes {nnodes}: several nodes need --launcher slurm "
                         f"(valid with --launcher local: 1)")
    slurm_flags = [f for f in ("slurm_partition", "slurm_time", "slurm_gpus_per_node")
                   if getattr(args, f) is not None] + (["slurm_param"] if args.slurm_param else [])
    if launcher != "slurm" and (slurm_flags or args.slurm_shared):
        names = ", ".join("--" + f.replace("_", "-") for f in slurm_flags or ["slurm_shared"])
        raise UsageError(f"{names}: only with --launcher slurm (valid launchers: "
                         f"{', '.join(LAUNCHERS)})")
    slurm: dict[str, Any] = {}
    if launcher == "slurm":
        slurm = {"partition": args.slurm_partition, "params": _params(args.slurm_param),
                 "exclusive": not args.slurm_shared}
        if args.slurm_time is not None:
            slurm["time_min"] = int(opt.check_positive(args.slurm_time, "--slurm-time"))
        if args.slurm_gpus_per_node is not None:
            slurm["gpus_per_node"] = int(opt.check_positive(args.slurm_gpus_per_node,
                                                            "--slurm-gpus-per-node"))
    return ScaleOut(launcher, slurm, nproc, nnodes)


def _params(items: list[str]) -> dict[str, Any]:
    """--slurm-param KEY=VALUE items as sbatch parameters (KEY without the dashes; a bare
    KEY is a flag such as `requeue`)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not key or (sep and not value):
            raise UsageError(f"--slurm-param: {item!r} is not KEY=VALUE or a flag KEY "
                             f"(e.g. account=myproj, requeue)")
        params[key] = value if sep else True
    return params
