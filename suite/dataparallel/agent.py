"""Worker process of data-parallel points on one machine (`python -m suite.dataparallel.agent`).

It speaks the runner's protocol (see suite.worker: an `init` line, a `ready` answer, then
one `measurement` per `point`) and runs each point's ranks through the framework's
data-parallel backend: fresh rank processes per point, each pinned to its own cores
(`rank_cores` from the runner's placement). A rank that fails fails the point with that
rank's message; the backend stops the other ranks, and the next point starts afresh.
The agent itself measures nothing, and is not pinned (it waits on its ranks).
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from suite.spec import Measurement, PointSpec
from suite.workerlib import point_messages, protocol_channel, send, send_ready


def run_point(spec: PointSpec, settings: dict[str, Any], init: dict[str, Any]) -> Measurement:
    """One data-parallel point, its ranks launched on this machine."""
    from suite.dataparallel import backend
    from suite.dataparallel.collective import failed_point
    from suite.dataparallel.rank import run_rank
    dp = backend(spec.framework)
    if dp is None:
        return Measurement(spec, status="skipped",
                           message=f"{spec.framework} has no data-parallel backend")
    # The ranks inherit this environment: the thread count is the spec's, not torchrun's 1.
    os.environ["OMP_NUM_THREADS"] = str(spec.threads or 1)
    job = {"spec": spec.to_dict(), "settings": settings, "rank_cores": init.get("rank_cores"),
           "sampler_cpus": init.get("sampler_cpus"), "timeout_s": init.get("timeout_s", 600.0)}
    started = time.time()
    record, failures = dp.launch(run_rank, (job,), spec.nproc_per_node,
                                 float(init.get("timeout_s", 600.0)))
    if failures or record is None:
        m = failed_point(spec, failures or {0: "rank 0 returned no result"})
    else:
        m = Measurement.from_record(record)
    m.meta["launch_s"] = round(time.time() - started, 3)
    return m


def main() -> int:
    """Serve one runner over stdin / a private stdout until told to stop or stdin closes."""
    out, init = protocol_channel()
    from frameworks import get_adapter
    avail = get_adapter(init["framework"]).availability()
    send_ready(out, avail, {"rank_cores": init.get("rank_cores")})
    if not avail.ok:
        return 0
    for spec, settings in point_messages(sys.stdin):
        m = run_point(spec, settings, init)
        m.meta.update(framework_version=avail.version, worker_pid=os.getpid())
        send(out, "measurement", m.to_record())   # ranks are fresh per point: go on
    return 0


if __name__ == "__main__":
    sys.exit(main())
