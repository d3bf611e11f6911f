"""`tune` checks its own recommendation (issue 21, item 6): interleaved verification
repeats, the speedup with its 95% CI, "goal not met" and exit 1 when the recommendation
did not hold the goal. Through the CLI, on a fake serving system (`serving_fakes`: no
framework, no LoadGen test), so the outcome is known in advance."""
import json

import pytest

from adapter_helpers import import_or_skip
from serving_fakes import FakeSystem
from suite import storage
from suite.cli import main
from suite.serving.session import Session
from suite.serving.tune import TUNE_FILE
from suite.serving.verdict import stage_repeat
from suite.topology import read_topology

CORES = read_topology().physical_cores
ARGS = ["tune", "--framework", "onnx", "--models", "resnet18", "--image-size", "32",
        "--qps", "100", "--p99", "100", "--batches", "1,4", "--duration", "1",
        "--profile-duration", "1", "--peak-steps", "4", "--no-report", "--quiet"]


@pytest.fixture(autouse=True)
def _needs_loadgen_and_two_cores():
    import_or_skip("mlperf_loadgen", "onnx", "pip install mlcommons-loadgen")
    if CORES < 2:
        pytest.skip("the recommendation equals the baseline on one core")


def tune(tmp_path, monkeypatch, capsys, fake: FakeSystem, *extra: str):
    monkeypatch.setattr(Session, "measure", fake.measure_method())
    code = main([*ARGS, "--out", str(tmp_path / "run"), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tune_repeats_the_verification_interleaved_and_gives_the_speedup_ci(
        tmp_path, monkeypatch, capsys):
    code, out, err = tune(tmp_path, monkeypatch, capsys, FakeSystem())
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.startswith("tune: ")]
    assert "95% CI" in lines[0] and lines[1].startswith("tune: goal met: ")
    result = json.loads((tmp_path / "run" / TUNE_FILE).read_text())
    assert result["goal_met"] and result["repeats"] == 3
    assert result["speedup_low"] <= result["speedup"] <= result["speedup_high"]
    assert result["speedup"] == pytest.approx(CORES, rel=0.15)     # capacity grows with k
    points = storage.load_measurements(tmp_path / "run")
    goal_tests = [m for m in points if stage_repeat(m.spec.stage) and m.meta.get("at_goal")]
    assert [(stage_repeat(m.spec.stage), m.meta["roles"]) for m in goal_tests] == [
        (r, [role]) for r in (1, 2, 3) for role in ("recommended", "baseline")]
    assert all(m.meta["host"]["physical_cores"] >= CORES for m in points)


def test_tune_says_goal_not_met_and_exits_1_when_its_recommendation_breaks_the_bound(
        tmp_path, monkeypatch, capsys):
    # profiled fine, but LoadGen's p99 breaks the bound in every verification test of the
    # recommendation (the harness's own p99 stays at 10 ms)
    code, out, err = tune(tmp_path, monkeypatch, capsys, FakeSystem(break_verified=CORES))
    assert code == 1, out + err
    last = [line for line in out.splitlines() if line.startswith("tune: ")][-1]
    assert last.startswith("tune: goal not met: p99 <= 100 ms at 100 QPS held in 0 of 3")
    assert "LoadGen: latency constraint not met" in last
    assert json.loads((tmp_path / "run" / TUNE_FILE).read_text())["goal_met"] is False
