"""--resolve (suite.resolve, issue 20 §3): a block gets extra rounds while one of its paired
ratios cannot yet detect the asked effect and more rounds can bring it there; the MDE and
the Holm level are the report's (suite.ratios.judge)."""
from __future__ import annotations

import math

import pytest

from suite import ratios
from suite.blocks import block_key
from suite.resolve import judged_ratios, rounds_to_resolve, unresolved_blocks
from suite.schedule import InterleavedRounds
from suite.spec import Measurement, PointSpec
from suite.storage import load_measurements, load_rounds

REF = ("pytorch", "none")


def spec(fw="pytorch", opt="none", bs=1, arm=""):
    return PointSpec(task="infer", framework=fw, optimization=opt, model="resnet18",
                     batch_size=bs, input_size=32, threads=1, arm=arm)


def processes(s: PointSpec, per_round: list[float]) -> list[Measurement]:
    """One process per round, each with steps of exactly 1 / figure seconds."""
    return [Measurement(s, samples_ns=[int(s.batch_size / tp * 1e9)] * 10,
                        items_per_step=s.batch_size, meta={"round": r + 1})
            for r, tp in enumerate(per_round)]


def block(bs: int, ref: list[float], other: list[float]) -> dict[str, list[Measurement]]:
    return {spec(bs=bs).key(): processes(spec(bs=bs), ref),
            spec("onnx", "script", bs).key(): processes(spec("onnx", "script", bs), other)}


def test_rounds_to_resolve_is_the_first_round_count_whose_mde_is_the_target():
    level = 0.05 / 4
    n = rounds_to_resolve(0.029, 5, level, 5.0, 20)
    assert n is not None and 5 < n <= 20
    assert ratios.mde_from_se(0.029 / math.sqrt(n), n - 1, level) <= 5.0 < \
        ratios.mde_from_se(0.029 / math.sqrt(n - 1), n - 2, level)
    assert rounds_to_resolve(0.029, 5, level, 5.0, n - 1) is None     # beyond --max-processes
    assert rounds_to_resolve(0.001, 3, level, 5.0, 8) == 3             # already there
    assert rounds_to_resolve(math.nan, 3, level, 5.0, 8) is None


def test_only_blocks_that_more_rounds_can_resolve_ask_for_them():
    parts = {}
    # a 1.4% paired spread: 3 rounds resolve about 8%, a few more rounds 3%
    parts.update(block(1, [100.0, 100.7, 99.3], [200.0, 198.6, 201.4]))
    # both move alike from round to round: the paired ratio is steady, nothing to resolve
    parts.update(block(2, [100.0, 100.7, 99.3], [200.0, 201.4, 198.6]))
    parts.update(block(4, [100.0, 100.0, 100.0], [150.0, 150.05, 149.95]))
    # a 20% spread: no round count within 8 gets it to 3%
    parts.update(block(8, [100.0, 100.0, 100.0], [200.0, 250.0, 160.0]))
    judged = {r.spec.batch_size: r for r in judged_ratios(parts, REF)}
    assert judged[1].mde_pct > 3.0 and judged[4].mde_pct < 3.0 and judged[8].mde_pct > 3.0
    wanted = unresolved_blocks(parts, REF, 0.03, 8)
    assert set(wanted) == {block_key(spec(bs=1))}
    assert all(3 < n <= 8 for n in wanted.values())
    assert unresolved_blocks(parts, REF, 0.0, 8) == {}                # off
    assert unresolved_blocks(parts, None, 0.03, 8) == {}              # no reference
    assert unresolved_blocks(parts, REF, 0.03, 3) == {}               # no rounds left


def test_a_failed_point_asks_for_nothing():
    parts = block(1, [100.0, 100.7, 99.3], [200.0, 198.6, 201.4])
    key = spec("onnx", "script").key()
    parts[key].append(Measurement(spec("onnx", "script"), status="error", message="boom"))
    assert unresolved_blocks(parts, REF, 0.03, 8) == {}


def test_the_schedule_gives_rounds_to_the_unresolved_block_only(tmp_path):
    """Every point is precise after 3 rounds (its processes within 0.7%), so without
    --resolve the sweep stops there; with --resolve 3 the block whose ratio spreads by
    1.4% per round gets more rounds, the block whose ratio is steady does not."""
    from tests.test_schedule import FakeRunner
    noisy = {"pytorch": [1.0, 1.007, 0.993, 1.0, 1.007, 0.993, 1.0, 1.0],
             "onnx": [0.5, 0.4965, 0.5035, 0.5, 0.4965, 0.5035, 0.5, 0.5]}
    specs = [spec(fw, opt, bs) for bs in (1, 2) for fw, opt in (REF, ("onnx", "script"))]

    def step_ms(s, n):
        return noisy[s.framework][n - 1] if s.batch_size == 1 else \
            (1.0 if s.framework == "pytorch" else 0.5)

    (tmp_path / "plain").mkdir()
    (tmp_path / "resolve").mkdir()
    plain = FakeRunner(tmp_path / "plain", step_ms=step_ms, max_processes=8)
    InterleavedRounds(plain, seed=0).run(specs)
    assert len(load_rounds(tmp_path / "plain")) == 3

    runner = FakeRunner(tmp_path / "resolve", step_ms=step_ms, max_processes=8)
    runner.opts.reference, runner.opts.resolve = REF, 0.03
    InterleavedRounds(runner, seed=0).run(specs)
    stored = {m.spec.batch_size: m for m in load_measurements(tmp_path / "resolve")
              if m.spec.framework == "onnx"}
    extra = load_rounds(tmp_path / "resolve")[3:]
    assert extra and all(sorted(r["order"]) == sorted(s.key() for s in specs[:2])
                         for r in extra)
    assert len(stored[2].samples_per_process) == 3
    final = {r.spec.batch_size: r for r in judged_ratios(
        {m.spec.key(): [m] for m in load_measurements(tmp_path / "resolve")}, REF)}
    assert final[1].rounds == 3 + len(extra) and final[1].mde_pct <= 3.0


@pytest.mark.parametrize("argv, expected", [
    (["--processes", "1", "--resolve", "5"], "--resolve: needs interleaved rounds"),
    (["--resolve", "-1"], "--resolve"),
    (["--resolve", "101"], "--resolve"),
])
def test_bad_resolve_is_a_usage_error(argv, expected):
    from suite.errors import UsageError
    from tests.test_rounds import resolve
    with pytest.raises(UsageError, match=expected):
        resolve(*argv)


def test_resolve_is_stored_in_the_configuration():
    from tests.test_rounds import resolve
    assert resolve("--resolve", "5").resolve == pytest.approx(0.05)
    assert resolve().resolve == 0.0


def test_the_certificate_says_how_many_cells_reached_the_target():
    from suite.report.ratio_tables import resolution_line
    from suite.resolve import resolve_record
    parts = {}
    parts.update(block(1, [100.0, 100.7, 99.3], [200.0, 198.6, 201.4]))     # MDE above 3%
    parts.update(block(4, [100.0, 100.0, 100.0], [150.0, 150.05, 149.95]))  # below
    judged = judged_ratios(parts, REF)
    record = resolve_record(judged, 0.03)
    assert record == {"target_pct": 3.0, "cells": 2, "cells_resolving": 1}
    cert = {**ratios.certificate(judged, 3, 0.02), "resolve": record}
    assert "asked to resolve 3% (--resolve): 1 of 2 cells do" in resolution_line(cert)
    assert "--resolve" not in resolution_line(ratios.certificate(judged, 3, 0.02))


def test_run_json_and_the_report_get_the_goal_from_the_configuration():
    from suite.certificate import run_certificate as certificate_with_goal
    parts = block(1, [100.0, 100.7, 99.3], [200.0, 198.6, 201.4])
    points = [combine(p) for p in parts.values()]
    config = {"frameworks": ["pytorch", "onnx"], "reference": {"framework": "pytorch",
                                                                "optimization": "none"}}
    assert "resolve" not in certificate_with_goal(points, config)
    cert = certificate_with_goal(points, dict(config, resolve=0.05))
    assert cert["resolve"]["target_pct"] == 5.0 and cert["resolve"]["cells"] == 1
    assert cert["mde_pct_median"] == ratios.run_certificate(points, config)["mde_pct_median"]


def combine(parts):
    from suite.spec import combine_processes
    return combine_processes(list(parts))
