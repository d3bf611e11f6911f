"""The worker side of a serving instance: build the model once per batch bucket, then
answer `serve_batch` requests, each one synchronous batch of N samples.

Protocol (after the worker's usual init/ready): the runner sends
``{"serve_load": {"spec", "settings", "buckets", "instance"}}``, answered by
``{"serve_ready": {"ok", "message", "build_s", "buckets", "observed_cpus", "pid"}}``;
then each ``{"serve_batch": {"n": N}}`` is answered by
``{"served": {"n", "bucket", "compute_ns"}}`` (or ``{"served": {"error": ...}}``).
A batch of N runs on the runnable of the smallest bucket >= N, its inputs padded (as
serving systems with fixed batch shapes do); `bucket` says which ran.

Test-only fault hook: DLBENCH_SERVE_FAULT="crash|hang@INSTANCE:BATCH" makes that
instance die (SIGSEGV) or hang on its BATCH-th batch, to test that a failure mid-run ends
the point cleanly.
"""
from __future__ import annotations

import bisect
import json
import os
import signal
import sys
import time
import traceback
from typing import IO, Any

from suite.spec import SERVING_DEFAULTS, PointSpec

SERVE_FAULT_ENV = "DLBENCH_SERVE_FAULT"
WARMUP_STEPS = 3


def buckets_for(max_batch: int) -> list[int]:
    """Powers of two below `max_batch`, and `max_batch` itself: the shapes built."""
    out, b = [], 1
    while b < max_batch:
        out.append(b)
        b *= 2
    return out + [max_batch]


def fault_at(instance: int) -> tuple[str, int] | None:
    """The fault (crash or hang) and the batch number this instance is told to fail on
    (test hook), if any."""
    kind, _, target = os.environ.get(SERVE_FAULT_ENV, "").partition("@")
    where, _, batch = target.partition(":")
    if kind in ("crash", "hang") and where and int(where) == instance:
        return kind, int(batch or 1)
    return None


def _inject(kind: str) -> None:
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    while True:          # hang: the runner's --timeout per batch ends it
        time.sleep(3600)


class Instance:
    """The runnables of one instance, one per batch bucket, warmed up."""

    def __init__(self, adapter: Any, spec: PointSpec, settings: dict[str, Any],
                 buckets: list[int]) -> None:
        import dataclasses

        from suite.models import zoo
        from suite.models.imported import register_model_files
        from suite.workerlib import build_runnable, release_freed_memory
        register_model_files(settings.get("model_files"))
        model = zoo.get_model(spec.model, spec.input_size)
        self.buckets = sorted(buckets)
        self.runnables = {}
        for b in self.buckets:
            point = dataclasses.replace(spec, batch_size=b, task="infer", **SERVING_DEFAULTS)
            self.runnables[b] = build_runnable(adapter, model, point, settings)
            for _ in range(WARMUP_STEPS):
                self._step(self.runnables[b])
        del model
        release_freed_memory()

    @staticmethod
    def _step(runnable: Any) -> None:
        runnable.step()
        runnable.synchronize()

    def run(self, n: int) -> tuple[int, int]:
        """One batch of `n` samples: (bucket run, its compute time in ns)."""
        i = bisect.bisect_left(self.buckets, n)
        if i == len(self.buckets):
            raise ValueError(f"batch of {n} exceeds the largest bucket {self.buckets[-1]}")
        bucket = self.buckets[i]
        t0 = time.perf_counter_ns()
        self._step(self.runnables[bucket])
        return bucket, time.perf_counter_ns() - t0


def serve_loop(adapter: Any, load: dict[str, Any], lines: IO[str], out: IO[str],
               placement: dict[str, Any]) -> None:
    """Build the instance from a `serve_load` request, then serve batches until stopped."""
    from frameworks.base import describe
    from suite.workerlib import observed_cpus, send
    spec = PointSpec.from_dict(load["spec"])
    t0 = time.perf_counter()
    try:
        instance = Instance(adapter, spec, load["settings"], load["buckets"])
    except Exception as e:  # noqa: BLE001 - a failed build is the point's status
        traceback.print_exc(file=sys.stderr)
        send(out, "serve_ready", {"ok": False, "message": describe(e)})
        return
    send(out, "serve_ready", {"ok": True, "message": "", "pid": os.getpid(),
                              "build_s": round(time.perf_counter() - t0, 3),
                              "buckets": instance.buckets, "observed_cpus": observed_cpus(),
                              "placement": placement})
    fault, count = fault_at(int(load.get("instance", 0))), 0
    for line in lines:
        msg = json.loads(line)
        if "serve_batch" not in msg:
            return
        count += 1
        if fault is not None and count >= fault[1]:
            _inject(fault[0])
        try:
            bucket, ns = instance.run(int(msg["serve_batch"]["n"]))
            send(out, "served", {"n": msg["serve_batch"]["n"], "bucket": bucket,
                                 "compute_ns": ns})
        except Exception as e:  # noqa: BLE001 - reported to the runner, which ends the point
            traceback.print_exc(file=sys.stderr)
            send(out, "served", {"error": describe(e)})
