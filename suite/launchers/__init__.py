"""Launchers: where a sweep's points run (`--launcher local|slurm`).

A launcher takes the sweep's point specs and runs them with the same per-point machinery
(`suite.runner.Runner`: fresh worker processes, the JSON-lines protocol, every point
appended to the run folder as it finishes), either here (`local`) or inside Slurm jobs
submitted through submitit (`slurm`), whose runners append to the same run folder on
shared storage. Every point carries the fingerprint of the host it ran on
(`meta["host"]`) and, on Slurm, its job (`meta["slurm"]`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

if TYPE_CHECKING:   # the CLI imports the launcher names without the runner
    from suite.runner import Reporter, RunOptions
    from suite.spec import Measurement, PointSpec
    from suite.topology import Topology

LAUNCHERS = ("local", "slurm")


class Launcher(Protocol):
    def run(self, specs: list[PointSpec], done_keys: Iterable[str] = ()) -> list[Measurement]:
        """Run the specs not in `done_keys`; every measurement is in the run folder after."""


def create(name: str, run_dir: Path, topo: Topology, opts: RunOptions, reporter: Reporter,
           unsupported: Callable[[PointSpec], str | None],
           slurm: dict | None = None) -> Launcher:
    """The launcher called `name` (one of LAUNCHERS). `unsupported` says why a point
    cannot run here; a Slurm launcher asks only what holds on every machine before it
    submits (`suite.sweep.declared_unsupported_reason`): each job asks its own node."""
    if name == "slurm":
        from suite.launchers.slurm import SlurmLauncher, SlurmOptions
        from suite.sweep import declared_unsupported_reason
        return SlurmLauncher(run_dir, opts, reporter, declared_unsupported_reason,
                             SlurmOptions(**(slurm or {})))
    from suite.launchers.local import local_runner
    return local_runner(run_dir, topo, opts, reporter, unsupported)
