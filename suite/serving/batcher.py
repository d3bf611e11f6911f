"""The system under test's scheduling: queries queue up as they arrive and one dispatcher
thread per instance takes the next batch - up to `max_batch` queries, waiting at most
`batch_timeout_s` after the oldest arrived for the batch to fill - runs it on its instance
and completes its queries.

A failed instance (crash, hang, error) is recorded once; from then on every query is
completed at once without running, so the load generator finishes its schedule and
nothing waits on a dead process. The point is then stored with the failure's status.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

from suite.runner import WorkerFailure

RunBatch = Callable[[int, int], dict[str, Any]]      # (instance, n) -> {bucket, compute_ns}
Complete = Callable[[list[int]], None]               # query ids -> told to the load generator


class Batcher:
    """Dynamic batching of queries over `instances` dispatchers."""

    def __init__(self, run_batch: RunBatch, instances: int, max_batch: int,
                 batch_timeout_s: float, complete: Complete) -> None:
        self._run, self._complete = run_batch, complete
        self.max_batch, self.timeout_s = max_batch, batch_timeout_s
        self._queue: deque[tuple[int, int, int]] = deque()   # (sample id, arrival ns, query)
        self._cond = threading.Condition()
        self._stopping = False
        self.failure: WorkerFailure | None = None
        self.latencies_ns: list[int] = []          # per completed sample, arrival to done
        self.query_latencies_ns: list[int] = []    # per query (one `issue` call): to its
        self._pending: dict[int, int] = {}         #   last sample; query -> samples left
        self._queries = 0
        self.batches: list[tuple[int, int, int, int]] = []   # (instance, n, bucket, compute ns)
        self._threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                          name=f"dispatch-{i}") for i in range(instances)]
        for t in self._threads:
            t.start()

    def issue(self, ids: list[int]) -> None:
        """Queries arrived (called from the load generator's thread)."""
        now = time.monotonic_ns()
        with self._cond:
            query, self._queries = self._queries, self._queries + 1
            self._pending[query] = len(ids)
            self._queue.extend((i, now, query) for i in ids)
            self._cond.notify_all()

    def _take(self) -> list[tuple[int, int, int]] | None:
        """The next batch, or None when stopping with nothing queued."""
        with self._cond:
            while True:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return None
                self._fill()
                if self._queue:      # another dispatcher may have taken them meanwhile
                    n = min(self.max_batch, len(self._queue))
                    return [self._queue.popleft() for _ in range(n)]

    def _fill(self) -> None:
        """Wait (holding the condition) until a full batch is queued or the oldest
        query has waited `batch_timeout_s`."""
        deadline = self._queue[0][1] + int(self.timeout_s * 1e9)
        while (self._queue and len(self._queue) < self.max_batch and not self._stopping
               and self.failure is None):
            left = (deadline - time.monotonic_ns()) / 1e9
            if left <= 0:
                break
            self._cond.wait(left)

    def _serve(self, index: int) -> None:
        while (batch := self._take()) is not None:
            ids = [q for q, _, _ in batch]
            if self.failure is None:
                try:
                    served = self._run(index, len(batch))
                except WorkerFailure as e:
                    self._fail(e)
                except Exception as e:  # noqa: BLE001 - a dead dispatcher would hang LoadGen
                    self._fail(WorkerFailure("error", f"instance {index}: dispatcher failed: "
                                                      f"{type(e).__name__}: {e}"))
                else:
                    self._done(index, batch, served)
            self._complete(ids)

    def _done(self, index: int, batch: list[tuple[int, int, int]],
              served: dict[str, Any]) -> None:
        done = time.monotonic_ns()
        with self._cond:
            self.latencies_ns.extend(done - t for _, t, _ in batch)
            self.batches.append((index, len(batch), served["bucket"], served["compute_ns"]))
            for _, t, query in batch:
                self._pending[query] -= 1
                if not self._pending[query]:
                    del self._pending[query]
                    self.query_latencies_ns.append(done - t)

    def _fail(self, e: WorkerFailure) -> None:
        with self._cond:
            if self.failure is None:
                self.failure = e
            self._cond.notify_all()

    def abort(self, message: str) -> None:
        """Stop running batches: every query from now on is completed at once."""
        self._fail(WorkerFailure("error", message))

    def stop(self) -> None:
        """Finish what is queued and end the dispatchers."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join()
