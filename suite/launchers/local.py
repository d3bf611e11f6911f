"""`--launcher local`: the runner on this machine, every point tagged with its host."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from suite.env import host_fingerprint
from suite.runner import Reporter, Runner, RunOptions
from suite.spec import PointSpec
from suite.topology import Topology


def local_runner(run_dir: Path, topo: Topology, opts: RunOptions, reporter: Reporter,
                 unsupported: Callable[[PointSpec], str | None]) -> Runner:
    """A Runner whose points carry this host's fingerprint."""
    meta = dict(opts.point_meta, host=host_fingerprint(topo))
    return Runner(run_dir, topo, dataclasses.replace(opts, point_meta=meta), reporter,
                  unsupported)
