"""suite.ratios: paired ratios over rounds, Holm, the minimum detectable effect, the control
arm and the run's certificate, on synthetic runs whose truth is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from suite.ratios import (FASTER, SLOWER, block_ratios, holm_adjust, holm_level, mde_pct,
                          process_rounds, process_throughputs, round_throughputs,
                          run_certificate, run_ratios, run_reference)
from suite.spec import Measurement, PointSpec

BATCH = 4
STEPS = 10


def spec(framework: str = "pytorch", optimization: str = "none", arm: str = "",
         batch_size: int = BATCH, threads: int = 1, model: str = "resnet18") -> PointSpec:
    return PointSpec(task="infer", framework=framework, optimization=optimization,
                     model=model, batch_size=batch_size, input_size=64, threads=threads,
                     arm=arm)


def point(s: PointSpec, per_round: list[float], rounds: bool = True,
          rng: np.random.Generator | None = None, step_noise: float = 0.0) -> Measurement:
    """A point measured once per round: process r's steps average `per_round[r]` items/s
    (round r = r + 1); without `rounds`, the processes carry no round (sequential)."""
    samples: list[int] = []
    for tp in per_round:
        step_ns = s.batch_size / tp * 1e9
        jitter = rng.standard_normal(STEPS) * step_noise if rng is not None else np.zeros(STEPS)
        jitter -= jitter.mean()      # each process's mean stays exactly at its figure
        samples += [int(round(step_ns * (1 + j))) for j in jitter]
    processes = [{"round": r + 1} if rounds else {} for r in range(len(per_round))]
    return Measurement(s, samples_ns=samples, items_per_step=s.batch_size,
                       samples_per_process=[STEPS] * len(per_round) if len(per_round) > 1
                       else None, meta={"processes": processes} if len(per_round) > 1
                       else ({"round": 1} if rounds else {}))


CONFIG = {"frameworks": ["pytorch", "onnx"], "optimizations": {"pytorch": ["none"],
                                                               "onnx": ["script"]},
          "reference": {"framework": "pytorch", "optimization": "none"}, "min_effect": 0.02}


def drifting_block(rng: np.random.Generator, rounds: int, factor: float, noise: float,
                   drift: float = 0.20, **where) -> list[Measurement]:
    """A block measured over `rounds` rounds on a machine whose speed differs by up to
    `drift` from round to round (the same for both variants within a round); onnx is
    `factor` times as fast as pytorch, each process off by `noise` (relative sd) on its own."""
    speed = 100.0 * (1 - drift * rng.random(rounds))
    own = lambda: 1 + noise * rng.standard_normal(rounds)      # noqa: E731
    return [point(spec("pytorch", "none", **where), list(speed * own())),
            point(spec("onnx", "script", **where), list(speed * factor * own()))]


# --- one point ------------------------------------------------------------------------------

def test_process_throughput_is_items_over_time_of_each_process():
    m = point(spec(), [100.0, 50.0], rng=np.random.default_rng(0), step_noise=0.1)
    assert process_throughputs(m) == pytest.approx([100.0, 50.0], rel=1e-6)
    assert process_rounds(m) == [1, 2]
    assert round_throughputs(m) == pytest.approx({1: 100.0, 2: 50.0}, rel=1e-6)


def test_windows_give_the_throughput_where_steps_overlap():
    """GPU: steps overlap within a window, so Σ items / Σ window time, per process."""
    m = point(spec(), [100.0, 100.0])        # steps of 40 ms each
    m.window_ns = [200_000_000, 200_000_000, 100_000_000, 100_000_000]   # 5 steps each
    m.window_steps = [5, 5, 5, 5]
    assert process_throughputs(m) == pytest.approx([100.0, 200.0])   # 40 items / 0.4 s, / 0.2 s
    m.window_steps = [4, 7, 4, 5]            # do not line up with the processes: the samples
    assert process_throughputs(m) == pytest.approx([100.0, 100.0], rel=1e-6)


def test_processes_without_rounds_are_not_paired():
    m = point(spec(), [100.0, 90.0], rounds=False)
    assert process_rounds(m) == [None, None] and round_throughputs(m) == {}
    assert process_rounds(point(spec(), [100.0])) == [1]      # one process so far: meta round


# --- paired ratios --------------------------------------------------------------------------

def test_a_drift_common_to_a_block_cancels():
    """The machine's speed differs by up to 20% between rounds; onnx is exactly 5% faster:
    the paired CI is tight around 1.05 and excludes 1; unpaired, the drift swamps it."""
    rng = np.random.default_rng(3)
    pts = drifting_block(rng, rounds=8, factor=1.05, noise=0.0)
    (r,) = run_ratios(pts, CONFIG)
    assert r.paired and r.rounds == 8
    assert r.ratio == pytest.approx(1.05, abs=1e-4)
    assert 1.049 < r.low <= r.ratio <= r.high < 1.051
    assert r.lead and r.verdict == FASTER
    unpaired = [point(m.spec, process_throughputs(m), rounds=False) for m in pts]
    (u,) = run_ratios(unpaired, CONFIG)
    assert not u.paired and u.low < 1.0 < u.high and not u.lead
    assert u.verdict.startswith("no difference resolved (this cell resolves >= ")


def test_a_real_five_percent_difference_is_found():
    """1% own noise per process on top of the drift, 6 rounds: found, CI around 1.05."""
    rng = np.random.default_rng(11)
    (r,) = run_ratios(drifting_block(rng, rounds=6, factor=1.05, noise=0.01), CONFIG)
    assert r.lead and r.verdict == FASTER and r.low > 1.0 and r.low < 1.05 < r.high
    (s,) = run_ratios(drifting_block(rng, rounds=6, factor=1 / 1.05, noise=0.01), CONFIG)
    assert s.lead and s.verdict == SLOWER and s.high < 1.0


def test_no_difference_is_not_claimed():
    """Identical variants: over 200 blocks (one run, Holm over all) none is called
    different, and each states what it resolves; unadjusted, about 5% would be."""
    rng = np.random.default_rng(5)
    pts = []
    for model in range(200):
        pts += drifting_block(rng, rounds=5, factor=1.0, noise=0.02, model=f"m{model}")
    ratios = run_ratios(pts, CONFIG)
    assert len(ratios) == 200 and not any(r.lead for r in ratios)
    assert 2 <= sum(r.p_value < 0.05 for r in ratios) <= 20
    assert all(r.verdict.startswith("no difference resolved (this cell resolves >= ")
               for r in ratios)


def test_a_difference_under_the_minimum_effect_is_not_a_lead():
    rng = np.random.default_rng(2)
    (r,) = run_ratios(drifting_block(rng, rounds=8, factor=1.01, noise=0.001), CONFIG)
    assert r.p_holm < 0.05 and not r.lead
    assert r.verdict == "under the minimum effect (1.0% < 2%)"
    (r,) = run_ratios(drifting_block(np.random.default_rng(2), rounds=8, factor=1.01,
                                     noise=0.001), dict(CONFIG, min_effect=0.005))
    assert r.lead


def test_one_process_per_point_gives_no_interval():
    pts = [point(spec("pytorch", "none"), [100.0]), point(spec("onnx", "script"), [150.0])]
    for m in pts:
        m.meta = {}
    (r,) = run_ratios(pts, CONFIG)
    assert r.ratio == pytest.approx(1.5) and math.isnan(r.low) and math.isnan(r.high)
    assert not r.lead and r.verdict.startswith("not available (each point ran in one process")


# --- Holm and the minimum detectable effect -------------------------------------------------

def test_holm_against_a_hand_worked_example():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> 0.06
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005, math.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4])
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm_level(10, 7) == pytest.approx(0.05 / 3) and holm_level(2, 2) == 0.05


@pytest.mark.parametrize("rounds", [3, 6])
def test_mde_is_found_four_times_in_five(rounds):
    """Simulated paired runs whose true effect is the MDE: the paired t-test at 5% rejects
    in about 80% of them."""
    sd = 0.02
    effect = math.log1p(mde_pct(sd, rounds) / 100)
    rng = np.random.default_rng(rounds)
    d = effect + sd * rng.standard_normal((20000, rounds))
    p = sp.ttest_1samp(d, 0.0, axis=1).pvalue
    assert (p < 0.05).mean() == pytest.approx(0.80, abs=0.015)
    half = d - effect / 2                     # half the MDE: found far less often
    assert (sp.ttest_1samp(half, 0.0, axis=1).pvalue < 0.05).mean() < 0.5


def test_mde_formula_values():
    # large n: lambda -> z_0.975 + z_0.8 = 2.80; n = 3: 5.65 (noncentral t, df 2)
    assert mde_pct(0.01, 3) == pytest.approx(100 * math.expm1(5.6535 * 0.01 / math.sqrt(3)),
                                             rel=1e-3)
    assert mde_pct(0.01, 1000) == pytest.approx(100 * math.expm1(2.8 * 0.01 / math.sqrt(1000)),
                                                rel=1e-2)
    assert math.isnan(mde_pct(0.01, 1))
    assert mde_pct(0.01, 3, alpha=0.005) > mde_pct(0.01, 3)


# --- the control arm and the certificate ---------------------------------------------------

def controlled_run(rng: np.random.Generator, blocks: int, control_bias: float = 1.0
                   ) -> list[Measurement]:
    """`blocks` blocks (batch sizes 1..), each with a control arm: a blind copy of pytorch
    (`control_bias` times as fast, 1.0: the same code)."""
    pts = []
    for b in range(1, blocks + 1):
        speed = 100.0 * (1 - 0.2 * rng.random(6))
        own = lambda: 1 + 0.01 * rng.standard_normal(6)      # noqa: E731
        pts += [point(spec("pytorch", "none", batch_size=b), list(speed * own())),
                point(spec("pytorch", "none", "control", batch_size=b),
                      list(speed * control_bias * own())),
                point(spec("onnx", "script", batch_size=b), list(speed * 1.5 * own()))]
    return pts


def test_control_arms_measure_the_false_positive_rate():
    cert = run_certificate(controlled_run(np.random.default_rng(8), 4), CONFIG)
    assert cert["control"] == {"arms": 4, "tested": 4, "called_different": 0,
                               "ci_excludes_one": cert["control"]["ci_excludes_one"]}
    assert cert["leads"] == 4 and cert["ratios"] == 8 and cert["rounds"] == 6
    # a control that is not what it claims to be (10% faster) is called different
    biased = run_certificate(controlled_run(np.random.default_rng(8), 4, 1.10), CONFIG)
    assert biased["control"]["called_different"] == 4


def test_certificate_keys_and_cells():
    cert = run_certificate(controlled_run(np.random.default_rng(9), 2), CONFIG)
    assert set(cert) == {"schema", "rounds", "paired", "note", "alpha", "power", "min_effect",
                         "ratios", "tested", "leads", "mde_pct_median", "control", "cells"}
    assert cert["paired"] and cert["note"] == "" and cert["min_effect"] == 0.02
    cell = cert["cells"][0]
    assert list(cell)[:18] == ["model", "task", "batch_size", "threads", "device", "dtype",
                               "image_size", "framework", "optimization", "arm",
                               "ref_framework", "ref_optimization", "ratio", "ratio_low",
                               "ratio_high", "rounds", "mde_pct", "verdict"]
    assert cell["paired_spread"] > 0 and cell["rounds"] == 6
    mdes = sorted(c["mde_pct"] for c in cert["cells"] if c["arm"] == "")
    assert cert["mde_pct_median"] == pytest.approx(float(np.median(mdes)), rel=1e-2)
    import json
    json.dumps(cert, allow_nan=False)          # JSON without NaN: run.json stays valid


def test_sequential_run_falls_back_to_unpaired_and_says_why():
    pts = [point(spec("pytorch"), [100.0, 101.0, 99.0], rounds=False),
           point(spec("onnx", "script"), [150.0, 152.0, 149.0], rounds=False)]
    cert = run_certificate(pts, dict(CONFIG, schedule="sequential"))
    assert not cert["paired"] and "did not run in interleaved rounds" in cert["note"]
    assert cert["rounds"] == 0 and cert["cells"][0]["rounds"] == 0
    assert cert["cells"][0]["ratio_low"] > 1.4


def test_reference_from_run_json_or_the_points():
    pts = [point(spec("onnx", "script"), [100.0]), point(spec("pytorch", "none"), [50.0])]
    assert run_reference(CONFIG, pts) == ("pytorch", "none")
    assert run_reference(dict(CONFIG, reference="onnx"), pts) == ("onnx", "script")
    assert run_reference(dict(CONFIG, reference="onnx:none"), pts) == ("onnx", "none")
    assert run_reference({}, pts) == ("onnx", "script")       # old run.json: points' order
    assert run_reference({}, []) is None
    ratios = block_ratios(pts, ("onnx", "script"))
    assert [r.spec.framework for r in ratios] == ["pytorch"]
    assert ratios[0].ratio == pytest.approx(0.5) and not ratios[0].tested
