"""`compare_runs`: ratios of medians, significance, verdicts, status changes, geometric means."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from suite.errors import UsageError
from suite.report.compare import (IMPROVEMENT, NO_CHANGE, REGRESSION, STATUS_CHANGE,
                                  compare_runs, ratio_text)
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info

RNG = np.random.default_rng(7)
N = 40


def spec(bs: int, framework: str = "pytorch") -> PointSpec:
    return PointSpec(task="infer", framework=framework, optimization="none", model="resnet50",
                     batch_size=bs, input_size=64, threads=1)


def ok(s: PointSpec, samples: np.ndarray) -> Measurement:
    return Measurement(s, samples_ns=[int(x) for x in samples], items_per_step=s.batch_size)


def failed(s: PointSpec, status: str) -> Measurement:
    return Measurement(s, status=status, message=f"{status}: synthetic")


def noise(ms: float, rel: float = 0.01, rng: np.random.Generator = RNG) -> np.ndarray:
    return ms * 1e6 * (1.0 + rel * rng.standard_normal(N))


def write(path: Path, points: list[Measurement]) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task="infer", command=["python"],
                                 config={"task": "infer"}, environment={},
                                 started_at="2026-01-01T00:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, dict]:
    same = np.random.default_rng(2)     # two draws of the same distribution (p ~ 0.75)
    base = {bs: noise(10.0 * bs) for bs in (2, 4, 128)}
    base[1] = noise(10.0, rng=same)
    tf = {bs: noise(5.0 * bs) for bs in (1, 2)}
    a = [ok(spec(bs), base[bs]) for bs in (1, 2, 4, 128)] + [
        ok(spec(8), noise(80.0)), failed(spec(16), "error"), ok(spec(32), noise(300.0)),
        ok(spec(1, "tensorflow"), tf[1]), ok(spec(2, "tensorflow"), tf[2])]
    b_samples = {1: noise(10.0, rng=same),    # a fresh draw: noise only
                 2: base[2] * 1.25,           # 1.25x slower
                 4: base[4] / 1.10,           # 1.10x faster
                 128: base[128] * 1.03}       # significant but below the 5% minimum effect
    b = [ok(spec(bs), x) for bs, x in b_samples.items()] + [
        failed(spec(8), "oom"), ok(spec(16), noise(160.0)), ok(spec(64), noise(640.0)),
        ok(spec(1, "tensorflow"), tf[1] * 2.0), ok(spec(2, "tensorflow"), tf[2] / 2.0)]
    root = tmp_path_factory.mktemp("compare")
    return write(root / "A", a), write(root / "B", b), {"base": base, "b": b_samples}


def by_bs(comparison, framework="pytorch"):
    return {c.spec.batch_size: c for c in comparison.matched if c.spec.framework == framework}


def test_ratio_wording():
    assert ratio_text(1.2345) == "1.23x slower"
    assert ratio_text(1 / 1.1) == "1.10x faster"
    assert ratio_text(1.004) == "same" and ratio_text(0.996) == "same"


def test_verdicts(runs):
    a, b, _ = runs
    points = by_bs(compare_runs(a, b))
    assert points[2].verdict == REGRESSION and points[2].p_value < 1e-6
    assert ratio_text(points[2].ratio) == "1.25x slower"
    assert points[4].verdict == IMPROVEMENT and ratio_text(points[4].ratio) == "1.10x faster"
    assert points[1].verdict == NO_CHANGE and points[1].p_value > 0.5        # noise only
    assert points[128].verdict == NO_CHANGE and points[128].p_value < 0.05   # too small
    # with a 2% minimum effect the 3% slowdown is a regression
    assert by_bs(compare_runs(a, b, min_effect=0.02))[128].verdict == REGRESSION


def test_status_changes_and_one_sided_points(runs):
    a, b, _ = runs
    result = compare_runs(a, b)
    changes = {c.spec.batch_size: (c.status_a, c.status_b, c.verdict)
               for c in result.status_changes()}
    assert changes == {8: ("ok", "oom", STATUS_CHANGE), 16: ("error", "ok", STATUS_CHANGE)}
    assert [m.spec.batch_size for m in result.only_a] == [32]
    assert [m.spec.batch_size for m in result.only_b] == [64]
    text = result.render()
    status_section = text.split("## Status changes")[1].split("## Only in A")[0]
    assert "bs=8" in status_section and "oom" in status_section and "bs=16" in status_section
    assert "bs=32" in text.split("## Only in A")[1].split("## Only in B")[0]
    assert "bs=64" in text.split("## Only in B")[1]


def test_geometric_mean_per_framework(runs):
    a, b, samples = runs
    summary = compare_runs(a, b).summary().set_index("framework")
    ratios = [np.mean(samples["b"][bs]) / np.mean(samples["base"][bs])   # time per item
              for bs in (1, 2, 4, 128)]
    expected = float(np.exp(np.mean(np.log(ratios))))
    assert float(summary.loc["pytorch", "ratio B/A"]) == pytest.approx(expected, abs=1e-4)
    assert summary.loc["pytorch", "points"] == 4
    assert summary.loc["pytorch", "regressions"] == 1
    assert summary.loc["pytorch", "improvements"] == 1
    # 2x slower and 2x faster cancel out
    assert summary.loc["tensorflow", "geometric mean"] == "same"


def test_regressions_threshold(runs):
    a, b, _ = runs
    result = compare_runs(a, b)
    slow = {(c.spec.framework, c.spec.batch_size)
            for c in result.regressions(5.0, include_failures=False)}
    assert slow == {("pytorch", 2), ("tensorflow", 1)}
    assert {(c.spec.framework, c.spec.batch_size)
            for c in result.regressions(50.0, include_failures=False)} == {("tensorflow", 1)}
    # a point that stopped running fails the gate too
    assert ("pytorch", 8) in {(c.spec.framework, c.spec.batch_size)
                              for c in result.regressions(50.0)}
    assert len(result.regressions(500.0)) == 1


def test_render_table(runs):
    a, b, _ = runs
    text = compare_runs(a, b).render()
    rows = [line for line in text.splitlines() if "bs=2 " in line and "pytorch" in line]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells[3:6] + cells[7:] == ["1.25x slower", "<0.0001", "<0.0001", "10+10 blocks",
                                      "regression"]                     # p, Holm p
    assert cells[6].endswith("%") and 0 < float(cells[6][:-1]) < 5     # MDE: 1% step noise
    a_items, b_items = (float(c.split(" ± ")[0]) for c in cells[1:3])   # items/s ± 95% CI
    assert a_items / b_items == pytest.approx(1.25, rel=1e-2)
    assert "## Summary (geometric mean of the ratios of time per item)" in text


def test_identical_runs_show_no_change(runs):
    a, _, _ = runs
    result = compare_runs(a, a)
    assert all(c.verdict == NO_CHANGE and c.ratio == 1.0 for c in result.measured())
    assert result.regressions(0.0, include_failures=False) == []
    assert not result.only_a and not result.only_b


def test_unreadable_run_is_a_usage_error(tmp_path, runs):
    with pytest.raises(UsageError):
        compare_runs(runs[0], tmp_path / "nothing")


# --- significance from per-process figures; one machine per comparison ------------------

def process_levels_run(rng: np.random.Generator, points: int, processes: int = 3,
                       steps: int = 100, sd: float = 0.06) -> list[Measurement]:
    """Identical code measured again: each process lands at its own level (sd 6%: memory
    layout, placement, clock, other jobs), and its steps drift around it (AR(1), 1%)."""
    out = []
    for bs in range(1, points + 1):
        parts = []
        for _ in range(processes):
            level = 10e6 * (1 + sd * rng.standard_normal())
            e, x = rng.standard_normal(steps), np.zeros(steps)
            for i in range(1, steps):
                x[i] = 0.9 * x[i - 1] + np.sqrt(1 - 0.81) * e[i]
            parts.append(level * (1 + 0.01 * x))
        m = ok(spec(bs), np.concatenate(parts))
        m.samples_per_process = [steps] * processes
        out.append(m)
    return out


def test_identical_code_is_rarely_called_different(tmp_path):
    """The issue's scenario: reruns of identical code. Per-step tests call most process-level
    shifts of >= 5% significant; per-process figures (3 + 3) rarely do."""
    rng = np.random.default_rng(12)
    a = write(tmp_path / "A", process_levels_run(rng, 30))
    b = write(tmp_path / "B", process_levels_run(rng, 30))
    result = compare_runs(a, b)
    flagged = [c for c in result.measured() if c.verdict != NO_CHANGE]
    assert all(c.tested == "3+3 processes" for c in result.measured())
    assert len(flagged) / 30 <= 0.10
    # what a test on single steps would have said about the same points
    from scipy import stats as sp
    steps_a = {m.spec: np.asarray(m.samples_ns) for m in load(a)}
    steps_b = {m.spec: np.asarray(m.samples_ns) for m in load(b)}
    per_step = [c for c in result.measured() if abs(np.log(c.ratio)) >= np.log(1.05)
                and sp.mannwhitneyu(steps_a[c.spec], steps_b[c.spec]).pvalue < 0.05]
    assert len(per_step) > 2 * len(flagged) + 2


def load(run: Path) -> list[Measurement]:
    from suite.storage import load_measurements
    return load_measurements(run)


def write_env(path: Path, points: list[Measurement], env: dict) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task="infer", command=["python"],
                                 config={"task": "infer"}, environment=env,
                                 started_at="2026-01-01T00:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


HOST_A = {"hostname": "box-a", "cpu_model": "Intel Xeon Gold 6130", "physical_cores": 16,
          "logical_cores": 32, "gpus": []}


@pytest.mark.parametrize("change", [{"cpu_model": "AMD EPYC 7742"}, {"physical_cores": 8},
                                    {"gpus": [{"name": "NVIDIA A100"}]}])
def test_runs_from_different_machines_are_refused(tmp_path, change, capsys):
    from suite.cli import main
    pts = [ok(spec(1), noise(10.0))]
    a = write_env(tmp_path / "A", pts, HOST_A)
    b = write_env(tmp_path / "B", pts, dict(HOST_A, hostname="box-b", **change))
    with pytest.raises(UsageError, match="different machines"):
        compare_runs(a, b)
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-different-hosts" in err
    assert "box-a" in err and "box-b" in err
    result = compare_runs(a, b, allow_different_hosts=True)
    text = result.render()
    assert "A ran on box-a: Intel Xeon Gold 6130 (16 cores, 32 threads), no GPU — points: 1 on box-a" in text
    assert "B ran on box-b" in text
    assert main(["compare", str(a), str(b), "--allow-different-hosts"]) == 0


def test_same_machine_under_another_name_is_compared(tmp_path):
    pts = [ok(spec(1), noise(10.0))]
    a = write_env(tmp_path / "A", pts, HOST_A)
    b = write_env(tmp_path / "B", pts, dict(HOST_A, hostname="box-a-renamed"))
    assert compare_runs(a, b).measured()


def test_compare_uses_device_samples_when_present(tmp_path):
    """One rule everywhere: a GPU point is compared on its CUDA-event times."""
    s = PointSpec(task="infer", framework="pytorch", optimization="none", model="resnet50",
                  batch_size=1, input_size=64, device="cuda")
    host = noise(20.0)
    ma = Measurement(s, samples_ns=[int(x) for x in host], items_per_step=1,
                     device_samples_ns=[int(x) for x in noise(10.0)])
    mb = Measurement(s, samples_ns=[int(x) for x in host], items_per_step=1,
                     device_samples_ns=[int(x) for x in noise(10.0) * 1.5])
    result = compare_runs(write(tmp_path / "A", [ma]), write(tmp_path / "B", [mb]))
    (c,) = result.measured()
    assert ratio_text(c.ratio) == "1.50x slower" and c.verdict == REGRESSION


def on_host(m: Measurement, **host) -> Measurement:
    """A point that names the host it ran on (every point since --launcher)."""
    m.meta["host"] = dict(HOST_A, **host)
    return m


def test_each_matched_point_is_checked_on_the_host_it_ran_on(tmp_path):
    """Slurm runs: run.json names the submitting host, each point its own node."""
    login = dict(HOST_A, hostname="login", cpu_model="Login CPU", physical_cores=4)
    a = write_env(tmp_path / "A", [on_host(ok(spec(1), noise(10.0)), hostname="n1")], login)
    b = write_env(tmp_path / "B", [on_host(ok(spec(1), noise(10.0)), hostname="n2")], HOST_A)
    assert compare_runs(a, b).measured()        # same node hardware: compared
    c = write_env(tmp_path / "C", [on_host(ok(spec(1), noise(10.0)), hostname="n3",
                                           gpus=["NVIDIA A100"])], HOST_A)
    with pytest.raises(UsageError, match=r"different machines \(gpus differ\)"):
        compare_runs(a, c)


def test_a_run_mixing_machines_is_flagged(tmp_path):
    pts = [on_host(ok(spec(1), noise(10.0)), hostname="n1"),
           on_host(ok(spec(2), noise(20.0)), hostname="n2", physical_cores=8)]
    a = write_env(tmp_path / "A", pts, HOST_A)
    text = compare_runs(a, a, allow_different_hosts=True).render()
    assert "points: 1 on n1; 1 on n2 — MIXED HOSTS: its points ran on 2 different machines" in text


# --- Holm, the minimum effect, the MDE and --fail-on-regression --------------------------

def test_holm_keeps_identical_code_from_failing_the_gate(tmp_path):
    """30 reruns of identical code: uncorrected, some points pass p < 0.05 with a change of
    5% or more (they would fail a CI gate); Holm-corrected over the 30, none does."""
    rng = np.random.default_rng(12)
    a = write(tmp_path / "A", process_levels_run(rng, 30))
    b = write(tmp_path / "B", process_levels_run(rng, 30))
    result = compare_runs(a, b)
    uncorrected = [c for c in result.measured() if c.p_value < 0.05
                   and abs(np.log(c.ratio)) >= np.log(1.05)]
    assert uncorrected, "the scenario needs points an uncorrected test would flag"
    assert all(c.p_holm >= c.p_value for c in result.measured())
    assert all(c.verdict == NO_CHANGE for c in result.measured())
    assert all(np.isfinite(c.mde_pct) and c.mde_pct > 5 for c in result.measured())
    # the other way round those points are slowdowns: still no regression fails the gate
    backwards = compare_runs(b, a)
    assert [c for c in backwards.measured() if c.p_value < 0.05 and c.ratio >= 1.05]
    assert backwards.regressions(1.0, include_failures=False) == []
    from suite.cli import main
    assert main(["compare", str(b), str(a), "--fail-on-regression", "1"]) == 0


def test_fail_on_regression_needs_holm_and_the_minimum_effect(runs, capsys):
    from suite.cli import main
    a, b, _ = runs
    # bs 128 is 3% slower (significant): below the default 5% minimum effect it never fails
    slow = {(c.spec.framework, c.spec.batch_size)
            for c in compare_runs(a, b).regressions(2.0, include_failures=False)}
    assert ("pytorch", 128) not in slow and ("pytorch", 2) in slow
    lenient = compare_runs(a, b, min_effect=0.02).regressions(2.0, include_failures=False)
    assert ("pytorch", 128) in {(c.spec.framework, c.spec.batch_size) for c in lenient}
    assert main(["compare", str(a), str(b), "--fail-on-regression", "5"]) == 1
    assert "Holm p" in capsys.readouterr().out
