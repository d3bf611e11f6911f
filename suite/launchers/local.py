"""`--launcher local`: the runner on this machine, every point tagged with its host, in
the order of the sweep's `--schedule` (suite.schedule)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from suite.env import host_fingerprint
from suite.runner import Reporter, Runner, RunOptions
from suite.schedule import InterleavedRounds
from suite.spec import PointSpec
from suite.topology import Topology


def local_runner(run_dir: Path, topo: Topology, opts: RunOptions, reporter: Reporter,
                 unsupported: Callable[[PointSpec], str | None]) -> Runner | InterleavedRounds:
    """A Runner whose points carry this host's fingerprint; with `--schedule interleaved`
    wrapped in the rounds that order its points (seeded by the settings' seed)."""
    meta = dict(opts.point_meta, host=host_fingerprint(topo))
    runner = Runner(run_dir, topo, dataclasses.replace(opts, point_meta=meta), reporter,
                    unsupported)
    if opts.schedule == "interleaved":
        return InterleavedRounds(runner, int(opts.settings.get("seed", 0)))
    return runner
