"""Serving figures against LoadGen's verdict (issue 21, item 5), the tune verdict's goal
check and speedup CI (item 6), and the one-way import between `serving` and `report` -
without a framework or LoadGen run (`serving_fakes` writes LoadGen's records)."""
import ast
import math
from pathlib import Path

import numpy as np
import pytest

import suite.serving
from serving_fakes import CAPACITY_PER_INSTANCE, FakeSystem, point
from suite import stats
from suite.report import serving as report_serving
from suite.serving.figures import bound_check, serving_figures, within_bound
from suite.serving.loadgen import LoadSettings
from suite.serving.peak import find_peak
from suite.serving.serve import describe
from suite.serving.tune import Candidate, verdict_lines, verify_order
from suite.serving.verdict import ratio_ci, tune_verdict, verdict_text, verify_stage
from suite.spec import Measurement, PointSpec

BOUND_MS = 100.0


def server(qps: float, loadgen_p99_ms: float, p99_ms: float = 10.0, stage: str = "",
           instances: int = 1, roles=None, at_goal: bool = False) -> Measurement:
    spec = PointSpec("serve", "onnx", "script", "resnet18", 4, 32, threads=1,
                     instances=instances, scenario="server", target_qps=qps, stage=stage)
    m = point(spec, LoadSettings("server", qps, BOUND_MS, 1.0, 32), 4.0, p99_ms,
              loadgen_p99_ms, qps)
    if roles is not None:
        m.meta.update(roles=roles, at_goal=at_goal, p99_bound_ms=BOUND_MS,
                      predicted={"p99_ms": 9.0, "capacity_qps": 500.0})
    return m


def test_a_point_loadgen_judged_over_its_bound_is_not_within_it_whatever_our_p99():
    broken = server(50.0, loadgen_p99_ms=150.0, p99_ms=10.0)     # ours 10 ms, LoadGen 150
    assert "latency constraint not met" in broken.meta["invalid_reasons"]
    held, why = bound_check(broken, BOUND_MS)
    assert not held and "LoadGen: latency constraint not met" in why
    assert not within_bound(broken, BOUND_MS)
    assert within_bound(server(50.0, loadgen_p99_ms=12.0), BOUND_MS)
    # another bound than the test's target: LoadGen's p99 decides, then ours
    assert not within_bound(server(50.0, loadgen_p99_ms=60.0), 50.0)
    assert not within_bound(server(50.0, loadgen_p99_ms=20.0, p99_ms=60.0), 50.0)


def test_no_table_row_shows_a_held_bound_beside_latency_constraint_not_met():
    points = [server(q, lg, ours) for q in (10.0, 50.0) for lg in (5.0, 99.0, 101.0, 400.0)
              for ours in (3.0, 99.0, 150.0)]
    table = report_serving.serving_table(points)
    assert len(table) == len(points)
    for _, row in table.iterrows():
        if "latency constraint not met" in row["status / reasons"]:
            assert row["p99 bound"].startswith("not held"), row.to_dict()
        held = row["p99 bound"].startswith("held")
        assert held == (float(row["LoadGen p99 ms"]) <= BOUND_MS
                        and float(row["p99 ms"].split()[0]) <= BOUND_MS)


def test_the_table_shows_loadgens_percentiles_beside_ours_and_open_ci_bounds():
    m = server(50.0, loadgen_p99_ms=12.3456)
    [row] = report_serving.serving_table([m]).to_dict("records")
    assert row["LoadGen p99 ms"] == "12.35" and row["LoadGen p50 ms"] == "4.00"
    f = serving_figures(m)
    assert math.isinf(f["p99_ms_high"])                  # 100 queries: no upper bound
    assert row["p99 ms"] == stats.ci_text(f["p99_ms"], f["p99_ms_low"], f["p99_ms_high"])
    assert "[≥ " in row["p99 ms"] and "[≥ " in row["p99.9 ms"]   # never a closed interval
    assert row["p99 bound"] == "held (100 ms)"
    line = describe(m)                                   # the console says the same
    assert "LoadGen's p50 4.00 p99 12.35 ms" in line and "[≥ " in line
    assert line.endswith("p99 bound 100 ms held")
    assert "not held: LoadGen: latency constraint not met" in describe(server(50.0, 150.0))


def test_loadgens_multistream_percentiles_are_its_per_query_ones_as_ours_are():
    from suite.serving.figures import loadgen_percentiles
    records = {"result_50.00_percentile_latency_ns": 6_000_000,             # per sample
               "result_50.00_percentile_per_query_latency_ns": 9_000_000,   # per query
               "result_99.00_percentile_latency_ns": 12_000_000}
    f = loadgen_percentiles(records)
    assert f["loadgen_p50_ms"] == 9.0 and f["loadgen_p99_ms"] == 12.0
    assert math.isnan(f["loadgen_p90_ms"])


def test_the_peak_search_and_the_tested_peaks_stop_where_loadgen_says_the_bound_broke():
    fake = FakeSystem()
    load = lambda q: LoadSettings("server", q, BOUND_MS, 1.0, 32)   # noqa: E731
    spec = lambda q: PointSpec("serve", "onnx", "script", "resnet18", 4, 32,  # noqa: E731
                               threads=1, scenario="server", target_qps=q)
    result = find_peak(lambda q: fake.measure(spec(q), load(q)), 50.0, BOUND_MS, steps=12,
                       resolution=1.02)
    # beyond the capacity only LoadGen's p99 breaks the bound (ours stays at 10 ms)
    assert 0.98 * CAPACITY_PER_INSTANCE <= result.peak_qps <= CAPACITY_PER_INSTANCE
    assert any(p.spec.target_qps > CAPACITY_PER_INSTANCE and serving_figures(p)["p99_ms"] < 20
               for p in result.probes)
    [(qps, bound)] = report_serving.tested_peaks(result.probes).values()
    assert (qps, bound) == (result.peak_qps, BOUND_MS)


def test_ratio_ci_is_the_t_interval_of_the_log_ratios():
    assert ratio_ci([2.0, 2.0, 2.0]) == pytest.approx((2.0, 2.0, 2.0))
    centre, low, high = ratio_ci(np.exp([0.0, 0.1, 0.2]))
    half = 4.302652729911275 * 0.1 / math.sqrt(3)        # t(0.975, 2) x sd / sqrt(n)
    assert (centre, low, high) == pytest.approx((math.exp(0.1), math.exp(0.1 - half),
                                                 math.exp(0.1 + half)))
    single = ratio_ci([1.5])
    assert single[0] == 1.5 and math.isnan(single[1]) and math.isnan(single[2])
    for bad in ([], [0.0, 1.0], [math.inf, 1.0], [-1.0, 2.0]):
        with pytest.raises(ValueError):
            ratio_ci(bad)


def test_ratio_ci_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(2000):
        _, low, high = ratio_ci(np.exp(rng.normal(math.log(1.7), 0.2, size=3)))
        hits += low <= 1.7 <= high
    assert 0.93 <= hits / 2000 <= 0.97


def test_verification_interleaves_the_recommendation_and_the_baseline():
    rec, base = Candidate(2, 1, 8), Candidate(1, 2, 4)
    order = verify_order(rec, base, 3)
    assert [(r, c.instances, roles) for r, c, roles in order] == [
        (1, 2, ["recommended"]), (1, 1, ["baseline"]), (2, 2, ["recommended"]),
        (2, 1, ["baseline"]), (3, 2, ["recommended"]), (3, 1, ["baseline"])]
    same = verify_order(rec, Candidate(2, 1, 8), 3)
    assert [(r, roles) for r, _, roles in same] == [(r, ["recommended", "baseline"])
                                                    for r in (1, 2, 3)]


def multistream(k: int, p50_ms: float, roles, repeat: int) -> Measurement:
    spec = PointSpec("serve", "onnx", "script", "resnet18", 4, 32, threads=2 // k,
                     instances=k, scenario="multistream", stage=verify_stage(repeat))
    m = point(spec, LoadSettings("multistream", 0.0, BOUND_MS, 1.0, 32), p50_ms,
              p50_ms * 1.2, p50_ms * 1.2, 0.0)
    m.meta.update(roles=roles, at_goal=True, predicted={"p50_ms": 3.6})
    return m


def test_a_batch_goal_verdict_has_the_speedup_ci_over_the_repeats_and_its_goal():
    points = [p for r, (a, b) in enumerate([(4.0, 6.0), (4.2, 6.1), (3.9, 6.3)], 1)
              for p in (multistream(2, a, ["recommended"], r), multistream(1, b, ["baseline"], r))]
    v = tune_verdict(points)
    ratios = [6.0 / 4.0, 6.1 / 4.2, 6.3 / 3.9]
    assert v["repeats"] == 3 and v["repeat_speedups"] == pytest.approx(ratios)
    assert (v["speedup"], v["speedup_low"], v["speedup_high"]) == pytest.approx(ratio_ci(ratios))
    assert v["speedup_low"] > 1 and v["goal_met"]
    # each arm's median over the repeats weighs them as the ratios do: the two agree
    assert v["baseline_p50_ms"] / v["p50_ms"] == pytest.approx(v["speedup"])
    assert v["p50_ms_low"] < v["p50_ms"] < v["p50_ms_high"]
    assert "95% CI" in verdict_text(v) and "Goal met" in verdict_text(v)
    slower = [p for r, (a, b) in enumerate([(6.0, 4.0), (6.2, 4.1), (6.1, 3.9)], 1)
              for p in (multistream(2, a, ["recommended"], r), multistream(1, b, ["baseline"], r))]
    v = tune_verdict(slower)
    assert v["speedup_high"] < 1 and not v["goal_met"]
    assert verdict_lines(v)[-1].startswith("tune: goal not met: ")


def test_a_qps_goal_is_met_only_where_loadgen_held_the_bound_in_every_repeat():
    def repeat(r: int, rec_lg_ms: float) -> list[Measurement]:
        stage = verify_stage(r)
        return [server(50.0, rec_lg_ms, stage=stage, instances=2, roles=["recommended"],
                       at_goal=True),
                server(400.0 + 10 * r, 20.0, stage=stage, instances=2, roles=["recommended"]),
                server(50.0, 15.0, stage=stage, roles=["baseline"], at_goal=True),
                server(200.0, 20.0, stage=stage, roles=["baseline"])]
    held = repeat(1, 12.0) + repeat(2, 12.0) + repeat(3, 12.0)
    v = tune_verdict(held)
    assert v["goal_met"] and v["peaks_qps"] == [410.0, 420.0, 430.0]
    assert v["speedup"] == pytest.approx(ratio_ci([2.05, 2.1, 2.15])[0])
    assert v["loadgen_p99_ms"] == pytest.approx([12.0] * 3)
    one_broke = repeat(1, 12.0) + repeat(2, 150.0) + repeat(3, 12.0)   # ours 10 ms each
    v = tune_verdict(one_broke)
    assert not v["goal_met"]
    assert "held in 2 of 3" in v["goal_note"] and "latency constraint not met" in v["goal_note"]
    assert "Goal not met" in verdict_text(v)


def _imports(path: Path) -> list[tuple[str, ast.AST]]:
    """Every module an import statement in `path` names (at any depth), with the node."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, node))
        elif isinstance(node, ast.Import):
            out += [(alias.name, node) for alias in node.names]
    return out


def test_serving_never_imports_report():
    """The CLI hands serve/tune the report builder: the report room imports serving, never
    the reverse."""
    folder = Path(suite.serving.__file__).parent
    found = []
    for path in sorted(folder.glob("*.py")):
        for module, node in _imports(path):
            if module.startswith("suite.report"):
                found.append((path.name, module, node.col_offset))
    assert found == [], found
