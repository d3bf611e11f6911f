"""Interleaved rounds (CONTRACT §15, issue 20 §1): the order (random, seeded, stored, blocks
back to back), the records after every round, resume after a kill, extra rounds, failures
and the oom rule. The runner's workers are faked: a fake opens no process and measures by
a table, so these tests are fast and deterministic."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from suite.blocks import block_key
from suite.runner import Runner, RunOptions
from suite.schedule import InterleavedRounds, round_order
from suite.spec import Measurement, PointSpec
from suite.storage import (POINTS_FILE, PROCESSES_FILE, finished_keys, load_measurements,
                           load_processes, load_rounds)
from suite.topology import read_topology


def spec(fw: str = "pytorch", opt: str = "none", bs: int = 1, threads: int = 1,
         arm: str = "") -> PointSpec:
    return PointSpec(task="infer", framework=fw, optimization=opt, model="resnet18",
                     batch_size=bs, input_size=32, threads=threads, arm=arm)


def grid(batches=(1, 2), threads=(1, 2), variants=(("pytorch", "none"), ("onnx", "script"))):
    return [spec(fw, opt, bs, t) for fw, opt in variants for bs in batches for t in threads]


class Quiet:
    def __init__(self):
        self.rounds = []

    def start(self, total, resumed): self.total, self.resumed = total, resumed
    def point_started(self, spec): pass
    def point_finished(self, m): pass
    def finish(self, measurements, run_dir): self.finished = measurements
    def round_started(self, round_no, rounds, points): self.rounds.append((round_no, points))


class FakeWorker:
    def close(self, kill=False):
        pass


class FakeRunner(Runner):
    """A runner whose workers are fakes: `step_ms(spec, n)` gives the step time of a
    point's n-th process (1-based), or a status string for a failure; `stop_at` raises
    KeyboardInterrupt (Ctrl-C) before the measurement with that index (0-based)."""

    def __init__(self, run_dir, step_ms=None, stop_at=None, processes=3, max_processes=3,
                 oom_skip=True):
        super().__init__(run_dir, read_topology(), RunOptions(
            settings={"loop": {"precision": 0.02}}, processes=processes,
            max_processes=max_processes, oom_skip=oom_skip, point_meta={"host": "h"}),
            Quiet(), lambda s: None)
        self.step_ms = step_ms or (lambda s, n: 1.0)
        self.stop_at = stop_at
        self.calls: list[PointSpec] = []
        self.count: dict[str, int] = {}

    def _start_worker(self, spec):
        return FakeWorker()

    def _measure(self, worker, spec):
        if self.stop_at is not None and len(self.calls) == self.stop_at:
            raise KeyboardInterrupt
        self.calls.append(spec)
        n = self.count[spec.key()] = self.count.get(spec.key(), 0) + 1
        ms = self.step_ms(spec, n)
        if isinstance(ms, str):
            return Measurement(spec, status=ms, message=f"fake {ms}")
        return Measurement(spec, samples_ns=[int(ms * 1e6)] * 12, items_per_step=spec.batch_size,
                           memory={"peak_rss_mib": 100.0}, meta={"worker_pid": len(self.calls)})


def rounds_of(m: Measurement) -> list[int]:
    return [p["round"] for p in m.meta["processes"]]


# --- the order -----------------------------------------------------------------------------

def test_round_order_is_seeded_random_and_runs_each_block_back_to_back():
    specs = grid(batches=(1, 2, 4), threads=(1, 2)) + [spec(bs=1, threads=1, arm="control")]
    orders = {r: round_order(specs, seed=7, round_no=r) for r in range(1, 9)}
    for order in orders.values():
        assert sorted(order) == sorted(specs)                     # every point once
        blocks = [block_key(s) for s in order]
        runs = [b for i, b in enumerate(blocks) if i == 0 or blocks[i - 1] != b]
        assert len(runs) == len(set(blocks)) == 6                 # blocks back to back
    assert round_order(specs, seed=7, round_no=3) == orders[3]   # the same, asked again
    assert len({tuple(o) for o in orders.values()}) == 8          # a fresh order each round
    assert round_order(specs, seed=8, round_no=3) != orders[3]    # another seed, another one
    firsts = {block_key(o[0]) for o in orders.values()}
    assert len(firsts) > 1                                        # the blocks' order varies
    # within a block, the variants' order varies from round to round
    block = block_key(spec(bs=4, threads=2))
    inner = {tuple(s.framework for s in o if block_key(s) == block) for o in orders.values()}
    assert inner == {("pytorch", "onnx"), ("onnx", "pytorch")}


# --- records after every round ---------------------------------------------------------------

def test_each_round_measures_every_point_in_a_fresh_process_and_supersedes_its_record(tmp_path):
    specs = grid()
    runner = FakeRunner(tmp_path)
    stored = InterleavedRounds(runner, seed=3).run(specs)
    rounds = load_rounds(tmp_path)
    assert [r["round"] for r in rounds] == [1, 2, 3] and all(r["finished"] for r in rounds)
    for r in rounds:     # the stored order is the one that ran, the seeded one
        assert r["order"] == [s.key() for s in round_order(specs, 3, r["round"])]
    assert [s.key() for s in runner.calls] == [k for r in rounds for k in r["order"]]
    processes = load_processes(tmp_path)
    assert [p.meta["round"] for p in processes] == [1] * 8 + [2] * 8 + [3] * 8
    lines = [json.loads(line) for line in (tmp_path / POINTS_FILE).read_text().splitlines()]
    assert [rec["meta"]["round"] for rec in lines] == [1] * 8 + [2] * 8 + [3] * 8
    assert [bool(rec["meta"].get("partial")) for rec in lines] == [True] * 16 + [False] * 8
    newest = load_measurements(tmp_path)
    assert [m.spec for m in newest] == [s for s in round_order(specs, 3, 1)]  # first seen
    for m in newest:
        assert m.status == "ok" and m.samples_per_process == [12, 12, 12]
        assert rounds_of(m) == [1, 2, 3] and m.meta["host"] == "h"
        assert len({p["worker_pid"] for p in m.meta["processes"]}) == 3
    assert finished_keys(tmp_path) == {s.key() for s in specs}
    assert {m.spec.key() for m in stored} == {s.key() for s in specs}
    assert runner.reporter.rounds == [(1, 8), (2, 8), (3, 8)]


def test_a_sweep_stopped_in_round_2_keeps_everything_and_resumes_that_round(tmp_path):
    """Ctrl-C before the third measurement of round 2: round 1's records and the two
    processes of round 2 are stored (nothing measured is lost), the round is recorded as
    unfinished, and a resume measures round 2 again and then round 3: every point ends
    with three processes from rounds 1, 2 and 3."""
    specs = grid()
    with pytest.raises(KeyboardInterrupt):
        InterleavedRounds(FakeRunner(tmp_path, stop_at=8 + 2), seed=5).run(specs)
    rounds = load_rounds(tmp_path)
    assert [(r["round"], r["finished"], r["measured"]) for r in rounds] == \
        [(1, True, 8), (2, False, 2)]
    assert len(load_processes(tmp_path)) == 10
    stopped = [m for m in load_measurements(tmp_path) if m.meta.get("interrupted")]
    assert len(stopped) == 2 and all(rounds_of(m) == [1, 2] for m in stopped)
    assert all("--resume measures that round again" in m.message for m in stopped)
    assert finished_keys(tmp_path) == set()           # none is done: all are resumed

    runner = FakeRunner(tmp_path)
    InterleavedRounds(runner, seed=5).run(specs, finished_keys(tmp_path))
    assert len(runner.calls) == 16                    # rounds 2 and 3, round 1 not again
    assert [s.key() for s in runner.calls[:8]] == load_rounds(tmp_path)[1]["order"]
    assert [(r["round"], r["finished"]) for r in load_rounds(tmp_path)] == \
        [(1, True), (2, False), (2, True), (3, True)]
    for m in load_measurements(tmp_path):
        assert m.samples_per_process == [12, 12, 12] and rounds_of(m) == [1, 2, 3]
        assert not m.meta.get("interrupted") and not m.meta.get("partial")
    assert runner.reporter.total == 24 and runner.reporter.resumed == 8


def test_a_sweep_killed_between_rounds_resumes_with_the_next_round(tmp_path):
    specs = grid(threads=(1,))
    with pytest.raises(KeyboardInterrupt):
        InterleavedRounds(FakeRunner(tmp_path, stop_at=4), seed=1).run(specs)
    assert [r["finished"] for r in load_rounds(tmp_path)] == [True, False]
    runner = FakeRunner(tmp_path)
    InterleavedRounds(runner, seed=1).run(specs, finished_keys(tmp_path))
    assert len(runner.calls) == 8
    assert all(rounds_of(m) == [1, 2, 3] for m in load_measurements(tmp_path))
    # a finished run resumed again measures nothing
    again = FakeRunner(tmp_path)
    InterleavedRounds(again, seed=1).run(specs, finished_keys(tmp_path))
    assert again.calls == []


# --- failures, the oom rule, extra rounds ----------------------------------------------------

def test_a_failed_point_is_stored_and_not_run_again(tmp_path):
    specs = grid(batches=(1,), threads=(1, 2))
    bad = spec("onnx", "script", 1, 2)
    runner = FakeRunner(tmp_path, step_ms=lambda s, n: "error" if s == bad and n == 2 else 1.0)
    InterleavedRounds(runner, seed=0).run(specs)
    assert sum(s == bad for s in runner.calls) == 2             # not in round 3
    stored = {m.spec: m for m in load_measurements(tmp_path)}
    assert stored[bad].status == "error" and stored[bad].message == "process 2: fake error"
    assert not stored[bad].meta.get("partial")
    assert all(stored[s].samples_per_process == [12] * 3 for s in specs if s != bad)
    # --resume retries an error (as a sequential run does): from its ok process of round 1
    runner = FakeRunner(tmp_path)
    InterleavedRounds(runner, seed=0).run(specs, finished_keys(tmp_path))
    assert runner.calls == [bad, bad]
    assert rounds_of({m.spec: m for m in load_measurements(tmp_path)}[bad]) == [1, 4, 5]


def first_seed(predicate) -> int:
    return next(seed for seed in range(1000) if predicate(seed))


def test_the_oom_rule_skips_larger_batches_not_measured_yet(tmp_path):
    """Batch 2 runs out of memory in round 1. A larger batch measured before it in that
    round keeps its rounds; one not yet measured is oom without running, as in sequential
    sweeps; neither the oom point nor the skipped one runs again."""
    specs = [spec(bs=b) for b in (1, 2, 4, 8)]
    before = lambda order, a, b: order.index(spec(bs=a)) < order.index(spec(bs=b))  # noqa: E731
    seed = first_seed(lambda s: before(round_order(specs, s, 1), 8, 2)
                      and before(round_order(specs, s, 1), 2, 4))
    runner = FakeRunner(tmp_path, step_ms=lambda s, n: "oom" if s.batch_size == 2 else 1.0)
    InterleavedRounds(runner, seed=seed).run(specs)
    stored = {m.spec.batch_size: m for m in load_measurements(tmp_path)}
    assert stored[2].status == "oom" and stored[4].status == "oom"
    assert stored[4].message.startswith("not run: batch size 2 already ran out of memory")
    assert stored[8].status == "ok" and rounds_of(stored[8]) == [1, 2, 3]
    assert [s.batch_size for s in runner.calls].count(2) == 1
    assert 4 not in [s.batch_size for s in runner.calls]


def test_imprecise_points_get_extra_rounds_with_the_rest_of_their_block(tmp_path):
    """Past --processes 3 a point whose processes spread by 1.5% (5 reach ±2%) gets
    rounds 4 and 5, and so does the other point of its block, so their pairs form; the
    precise block stops at 3."""
    specs = grid(batches=(1, 2), threads=(1,))
    noisy = spec("pytorch", "none", 1)
    spread = [1.0, 1.025, 0.995, 1.0, 1.0]
    runner = FakeRunner(tmp_path, step_ms=lambda s, n: spread[n - 1] if s == noisy else 1.0,
                        max_processes=5)
    InterleavedRounds(runner, seed=2).run(specs)
    stored = {m.spec: m for m in load_measurements(tmp_path)}
    assert stored[noisy].samples_per_process == [12] * 5 and stored[noisy].precision_reached
    partner = spec("onnx", "script", 1)
    assert rounds_of(stored[partner]) == [1, 2, 3, 4, 5]
    assert all(len(stored[s].samples_per_process) == 3 for s in specs if s.batch_size == 2)
    extra = load_rounds(tmp_path)[3:]
    assert [sorted(r["order"]) for r in extra] == [sorted([noisy.key(), partner.key()])] * 2
    assert runner.reporter.rounds[3:] == [(4, 2), (5, 2)]


def test_one_process_is_one_round(tmp_path):
    specs = grid(batches=(1,), threads=(1,))
    runner = FakeRunner(tmp_path, processes=1, max_processes=1)
    InterleavedRounds(runner, seed=0).run(specs)
    assert len(runner.calls) == 2 and [r["round"] for r in load_rounds(tmp_path)] == [1]
    assert all(m.meta["round"] == 1 and not m.meta.get("partial")
               for m in load_measurements(tmp_path))
    assert (tmp_path / PROCESSES_FILE).exists()


def test_a_resumed_run_can_add_points_and_they_get_all_their_processes(tmp_path):
    specs = grid(batches=(1,), threads=(1,))
    InterleavedRounds(FakeRunner(tmp_path), seed=4).run(specs)
    more = specs + [dataclasses.replace(s, batch_size=2) for s in specs]
    runner = FakeRunner(tmp_path)
    InterleavedRounds(runner, seed=4).run(more, finished_keys(tmp_path))
    assert sorted(s.batch_size for s in runner.calls) == [2] * 6
    stored = {m.spec: m for m in load_measurements(tmp_path)}
    assert all(stored[s].samples_per_process == [12] * 3 for s in more)
    assert rounds_of(stored[more[-1]]) == [4, 5, 6]


def test_measure_alone_is_one_fresh_worker_and_stores_nothing(tmp_path):
    runner = FakeRunner(tmp_path)
    m = runner.measure_alone(spec())
    assert m.status == "ok" and m.meta["host"] == "h"
    assert not (tmp_path / POINTS_FILE).exists() and runner.measurements == []
    skipped = FakeRunner(tmp_path)
    skipped.unsupported = lambda s: "not here"
    assert skipped.measure_alone(spec()).status == "skipped" and skipped.calls == []


def test_round_records_name_the_stored_files(tmp_path):
    """rounds.jsonl: one JSON object per round, with the schema version."""
    InterleavedRounds(FakeRunner(tmp_path, processes=2, max_processes=2), seed=0).run(
        grid(batches=(1,), threads=(1,)))
    first = json.loads(Path(tmp_path / "rounds.jsonl").read_text().splitlines()[0])
    assert set(first) == {"schema", "round", "order", "measured", "finished", "started_at",
                          "ended_at"}
    assert first["schema"] == 1 and first["measured"] == 2
