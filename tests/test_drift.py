"""The machine's drift between rounds (suite.drift): each round's effect, common to the
points measured in it, recovered from the processes; in run.json's certificate and the
report."""
from __future__ import annotations

import math

import numpy as np

from suite.certificate import run_certificate
from suite.drift import drift_line, drift_record, round_effects
from suite.spec import Measurement, PointSpec, combine_processes

SPEEDS = [1.05, 0.95, 1.0, 1.10]      # the machine in rounds 1-4


def point(fw: str, bs: int, base: float, rng: np.random.Generator | None = None,
          rounds: bool = True) -> Measurement:
    s = PointSpec(task="infer", framework=fw, optimization="none" if fw == "pytorch" else
                  "script", model="resnet18", batch_size=bs, input_size=32, threads=1)
    parts = []
    for r, speed in enumerate(SPEEDS, 1):
        own = 1.0 + (0.002 * rng.standard_normal() if rng is not None else 0.0)
        parts.append(Measurement(s, samples_ns=[int(bs / (base * speed * own) * 1e9)] * 10,
                                 items_per_step=bs, meta={"round": r} if rounds else {}))
    return combine_processes(parts)


def run(rng=None, rounds=True):
    return [point(fw, bs, base, rng, rounds) for bs in (1, 2, 4)
            for fw, base in (("pytorch", 100.0), ("onnx", 300.0))]


def test_the_round_effects_are_the_machines_speed_against_the_runs_mean():
    mean = math.exp(np.mean(np.log(SPEEDS)))
    effects = round_effects(run(np.random.default_rng(3)))
    assert list(effects) == [1, 2, 3, 4]
    for r, speed in enumerate(SPEEDS, 1):
        assert abs(effects[r] - 100 * (speed / mean - 1)) < 0.3
    record = drift_record(run())
    assert abs(record["range_pct"] - 100 * (1.10 - 0.95) / mean) < 0.01
    assert abs(record["sd_pct"] - np.std([100 * (s / mean - 1) for s in SPEEDS], ddof=1)) < 0.01


def test_a_steady_machine_has_no_drift_and_a_run_without_rounds_none():
    global SPEEDS
    saved, SPEEDS = SPEEDS, [1.0, 1.0, 1.0, 1.0]
    try:
        assert drift_record(run())["range_pct"] == 0.0
    finally:
        SPEEDS = saved
    assert drift_record(run(rounds=False)) is None
    assert drift_line({}) is None


def test_the_certificate_and_the_report_line_carry_it():
    config = {"frameworks": ["pytorch", "onnx"], "reference": {"framework": "pytorch",
                                                                "optimization": "none"}}
    cert = run_certificate(run(), config)
    assert set(cert["drift"]["effects_pct"]) == {"1", "2", "3", "4"}
    line = drift_line(cert)
    mean = math.exp(np.mean(np.log(SPEEDS)))      # 0.95 and 1.10 against it
    assert "4 rounds" in line and "-7.2% to +7.5%" in line and "paired ratios" in line
    assert f"{100 * (0.95 / mean - 1):+.1f}% to {100 * (1.10 / mean - 1):+.1f}%" in line
    # a drift every point shares cancels in the paired ratios
    assert all(abs(c["ratio"] - 3.0) < 1e-3 for c in cert["cells"])


def test_compare_states_both_drifts_and_the_shift_every_point_shares():
    from suite.drift import compare_lines
    lines = compare_lines(run(), run(rounds=False), [0.96, 0.97, 0.95, 1.01])
    assert lines[0].startswith("the machine's own speed between A's rounds: sd ")
    assert not any("B's rounds" in line for line in lines)      # B has no rounds
    assert "over the 4 points: 0.9650 (3 of 4 the same way)" in lines[-1]
    assert compare_lines(run(rounds=False), run(rounds=False), [1.0]) == []
