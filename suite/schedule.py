"""The order a sweep's processes run in (CONTRACT §7, §15); the runner measures.

`--schedule sequential` (`suite.runner.Runner.run`): a point's N processes back to back,
so they all sample the same few seconds of the machine. `--schedule interleaved` (the
default with `--processes N` >= 2, `InterleavedRounds`): the sweep runs in rounds. Each
round measures every point once, each in a fresh worker, in a fresh random order seeded
by `--seed` and the round number: the blocks (`suite.blocks`: the points that differ only
in framework, optimization and arm) in random order, a block's points back to back in
random order. A point's N processes are thus spread over the whole sweep, its CI covers the
machine's drift during the sweep, and a block's points share each round's conditions.

On disk (suite.storage): every process is appended to processes.jsonl as it finishes
(`meta["round"]`); after each round, each point measured in it is appended to
points.jsonl with its processes so far (superseding its record of the round before;
`meta["partial"]` while more rounds are to come), and the round to rounds.jsonl: its
number, the spec keys in the order they ran, whether it finished. Ctrl-C, SIGTERM or
SIGHUP store the round so far (its records marked interrupted); `--resume` continues
after the last finished round (`suite.resume.round_state`): the unfinished round is
measured again.

A point past `--processes` whose CIs across processes are still wider than
`--precision` gets extra rounds up to `--max-processes` (`wants_another`), and so do the
other points of its block, so that its pairs form. With `--resolve PCT` a block also gets
extra rounds, up to `--max-processes`, while one of its paired ratios cannot yet detect a
PCT % difference and more rounds can bring it there (`suite.resolve`). A point that fails
in a round (oom, error, timeout, skipped) is stored and not run in later rounds.
"""
from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from suite import stats, storage
from suite.blocks import block_key, group_blocks
from suite.resolve import unresolved_blocks
from suite.resume import round_state
from suite.spec import Measurement, PointSpec, combine_processes



class Runner(Protocol):
    """What a schedule asks of the runner that measures (`suite.runner.Runner`), stated
    here so that this module never imports the runner, which imports it."""

    opts: Any
    reporter: Any
    run_dir: Path
    measurements: list[Measurement]

    def record(self, m: Measurement) -> None: ...

    def note_oom(self, m: Measurement) -> None: ...

    def run_pass(self, group: list[PointSpec],
                 record: Callable[[Measurement], None]) -> None: ...

    def measure_alone(self, spec: PointSpec, oom_rule: bool = True) -> Measurement: ...

SCHEDULES = ("interleaved", "sequential")


def worker_key(spec: PointSpec) -> tuple:
    """Points sharing this key can share a worker (same framework, threads and placement)."""
    return (spec.framework, spec.device, spec.threads, spec.interop_threads,
            spec.mapping, spec.ht, spec.memory, spec.nproc_per_node, spec.nnodes)


def round_order(specs: Iterable[PointSpec], seed: int, round_no: int) -> list[PointSpec]:
    """Round `round_no`'s order of `specs`: blocks in random order, each block's points
    back to back in random order; the same for the same seed, round and points."""
    rng = random.Random(f"dlbench-round:{seed}:{round_no}")   # str seeds: stable anywhere
    blocks = [list(block) for block in group_blocks(specs).values()]
    rng.shuffle(blocks)
    order: list[PointSpec] = []
    for block in blocks:
        rng.shuffle(block)
        order.extend(block)
    return order


def combined_point(parts: list[Measurement], settings: dict[str, Any]) -> Measurement:
    """The processes of one point (`--processes N`) as one measurement, its precision
    judged on all samples."""
    m = combine_processes(parts)
    if m.status != "ok" or len(parts) < 2:
        return m
    precision = _precision(settings)
    summary = stats.point_summary(m)
    m.summary = summary.to_dict()
    m.precision_reached = stats.meets_precision(summary, precision)
    if m.precision_reached:
        m.message = ""
        return m
    spread = stats.point_process_spread(m)
    needed = stats.processes_for_precision(spread, precision)
    why = (f"the processes agree ({spread:.1%} sd): their steps scatter too much"
           if needed <= len(parts) else
           f"the processes differ by {spread:.1%} (sd)" +
           (f", about {needed:.0f} processes would reach it" if math.isfinite(needed) else ""))
    m.message = (f"precision ±{precision:.1%} not reached across {len(parts)} processes "
                 f"(95% CI ±{summary.achieved_precision:.1%}; {why})")
    return m


def _precision(settings: dict[str, Any]) -> float:
    return float(settings.get("loop", {}).get("precision", 0.02))


def processes_needed(m: Measurement, settings: dict[str, Any]) -> float:
    """Fresh processes a combined point needs for its precision at the spread its
    processes show so far (inf when no number within reason will do)."""
    return stats.processes_for_precision(stats.point_process_spread(m), _precision(settings))


def wants_another(parts: list[Measurement], settings: dict[str, Any],
                  max_processes: int) -> bool:
    """Whether a point past --processes gets another fresh process: its CIs across the
    processes so far are wider than the precision, and the processes the precision needs
    at their spread (`stats.processes_for_precision`) fit within --max-processes. A point
    whose processes disagree by more than that stops instead of spending processes that
    cannot bring it to its precision."""
    m = combined_point(parts, settings)
    if m.precision_reached:
        return False
    return processes_needed(m, settings) <= max_processes


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class SequentialPasses:
    """`--schedule sequential`: the points group by group (a group shares a worker; one
    point per group with --worker-per-point); with `--processes N` a group runs in N
    passes back to back, each through its own fresh worker (`Runner.run_pass`), and each
    point's parts are stored as one point (one that fails in a pass is not run again).
    A point whose CIs across its processes are still wider than the precision gets more
    passes, up to --max-processes (`wants_another`)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.opts = runner.opts

    def run(self, specs: list[PointSpec], done_keys: Iterable[str] = ()) -> list[Measurement]:
        done = set(done_keys)
        todo = [s for s in specs if s.key() not in done]
        self.runner.reporter.start(len(specs), len(specs) - len(todo))
        for group in self._groups(todo):
            self._run_group(group)
        self.runner.reporter.finish(self.runner.measurements, self.runner.run_dir)
        return self.runner.measurements

    def _groups(self, specs: list[PointSpec]) -> list[list[PointSpec]]:
        if self.opts.worker_per_point:
            return [[s] for s in specs]
        groups: dict[tuple, list[PointSpec]] = {}
        for s in specs:
            groups.setdefault(worker_key(s), []).append(s)
        return list(groups.values())

    def _run_group(self, group: list[PointSpec]) -> None:
        runner, opts = self.runner, self.opts
        if opts.processes <= 1:
            runner.run_pass(group, runner.record)
            return
        parts: dict[str, list[Measurement]] = {s.key(): [] for s in group}

        def keep(m: Measurement) -> None:
            runner.note_oom(m)
            parts[m.spec.key()].append(m)

        todo = group
        try:
            for done in range(1, max(opts.processes, opts.max_processes) + 1):
                runner.run_pass(todo, keep)
                todo = [s for s in todo if parts[s.key()][-1].status == "ok"]
                if done >= opts.processes:
                    # past --processes: only points whose CI across processes is still too
                    # wide, and that more processes can narrow in time, get another one
                    todo = [s for s in todo if wants_another(
                        parts[s.key()], opts.settings, opts.max_processes)]
                if not todo:
                    break
        except KeyboardInterrupt:
            self._record_interrupted(parts)
            raise
        for spec in group:
            runner.record(combined_point(parts[spec.key()], opts.settings))

    def _record_interrupted(self, parts: dict[str, list[Measurement]]) -> None:
        """Store what an interrupted group measured (nothing measured is lost), marked so
        that `--resume` measures those points again with all their processes."""
        n = self.opts.processes
        for measured in parts.values():
            if not measured:
                continue
            m = combined_point(measured, self.opts.settings)
            m.meta["interrupted"] = f"after {len(measured)} of {n} processes"
            m.message = f"interrupted after {len(measured)} of {n} processes; --resume " \
                        f"measures it again"
            self.runner.record(m)


class InterleavedRounds:
    """Runs a sweep in interleaved rounds, one process at a time through `runner`
    (`Runner.measure_alone`: one point, one fresh worker), and stores every process,
    every point after each round, and each round's order in the run folder."""

    def __init__(self, runner: Runner, seed: int) -> None:
        self.runner = runner
        self.run_dir = runner.run_dir
        self.reporter = runner.reporter
        self.settings = runner.opts.settings
        self.processes = max(1, runner.opts.processes)
        self.max_processes = max(self.processes, runner.opts.max_processes)
        self.reference = runner.opts.reference
        self.resolve = float(runner.opts.resolve or 0.0)
        self.seed = seed
        self.parts: dict[str, list[Measurement]] = {}   # spec key -> its processes so far
        self.stored: dict[str, Measurement] = {}        # spec key -> its newest record

    def run(self, specs: list[PointSpec], done_keys: Iterable[str] = ()) -> list[Measurement]:
        """Measure `specs` in rounds, after the rounds the run folder holds already
        (`--resume`); points in `done_keys` without processes there (measured by an
        earlier sequential run) are left out. Returns the records stored."""
        state = round_state(self.run_dir)
        done = set(done_keys)
        points = [s for s in specs if s.key() in state.parts or s.key() not in done]
        self.parts = {s.key(): list(state.parts.get(s.key(), [])) for s in points}
        self.reporter.start(sum(self._planned(s.key()) for s in points),
                            sum(len(p) for p in self.parts.values()))
        round_no = state.last_round
        while todo := self._todo(points):
            round_no += 1
            self._round(round_no, round_order(todo, self.seed, round_no))
        records = list(self.stored.values())
        self.reporter.finish(records, self.run_dir)
        return records

    def _planned(self, key: str) -> int:
        parts = self.parts[key]
        return len(parts) if parts and parts[-1].status != "ok" else \
            max(self.processes, len(parts))

    def _needs(self, key: str) -> bool:
        """Whether a point wants a process in the next round for itself."""
        parts = self.parts[key]
        if not parts:
            return True
        if parts[-1].status != "ok":
            return False          # failed: stored, not run again
        if len(parts) < self.processes:
            return True
        return len(parts) < self.max_processes and \
            wants_another(parts, self.settings, self.max_processes)

    def _todo(self, points: list[PointSpec]) -> list[PointSpec]:
        """The next round's points: those that want a process, and for one past
        --processes the other (still ok) points of its block, so that its pairs form; with
        --resolve, every (still ok) point of a block whose ratios want another round."""
        needing = {s.key() for s in points if self._needs(s.key())}
        extra = {block_key(s) for s in points
                 if s.key() in needing and len(self.parts[s.key()]) >= self.processes}
        if self.resolve:
            extra |= set(unresolved_blocks(self.parts, self.reference, self.resolve,
                                           self.max_processes))
        return [s for s in points if s.key() in needing or (
            block_key(s) in extra and self.parts[s.key()]
            and self.parts[s.key()][-1].status == "ok"
            and len(self.parts[s.key()]) < self.max_processes)]

    def _round(self, round_no: int, order: list[PointSpec]) -> None:
        """Measure one round; store its points and its order, also when stopped."""
        started = _now()
        announce = getattr(self.reporter, "round_started", None)
        if announce is not None:
            announce(round_no, self.processes, len(order))
        measured: list[PointSpec] = []
        try:
            for spec in order:
                parts = self.parts[spec.key()]
                # the oom rule skips larger batches of an oom variant not measured yet; a
                # point that already ran keeps running (its record would be lost)
                m = self.runner.measure_alone(spec, oom_rule=not parts)
                m.meta["round"] = round_no
                storage.append_process(self.run_dir, m)
                parts.append(m)
                measured.append(spec)
                self.reporter.point_finished(m)
        except KeyboardInterrupt:   # Ctrl-C, or SIGTERM / SIGHUP (errors.Stop)
            self._store(round_no, order, measured, started, finished=False)
            raise
        self._store(round_no, order, measured, started, finished=True)

    def _store(self, round_no: int, order: list[PointSpec], measured: list[PointSpec],
               started: str, finished: bool) -> None:
        """Append each point measured in the round with its processes so far, then the
        round's record (an unfinished round is measured again by --resume)."""
        for spec in measured:
            m = combined_point(self.parts[spec.key()], self.settings)
            meta = dict(m.meta, schedule="interleaved", round=round_no)
            message = m.message
            if not finished:
                meta["interrupted"] = f"in round {round_no}"
                if m.status == "ok":
                    message = (f"interrupted in round {round_no}; --resume measures that "
                               f"round again")
            elif self._needs(spec.key()):
                meta["partial"] = True     # later rounds add to it
            m = dataclasses.replace(m, meta=meta, message=message)
            storage.append_measurement(self.run_dir, m)
            self.stored[spec.key()] = m
        storage.append_round(self.run_dir, {
            "round": round_no, "order": [s.key() for s in order], "measured": len(measured),
            "finished": finished, "started_at": started, "ended_at": _now()})
