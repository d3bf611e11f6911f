"""`serve --resume` and `tune --resume` (issue 21, item 11; CONTRACT §8): an interrupted
run continues in its folder through the shared run-folder code, measuring only what is
missing - a peak search replays its stored probes, a tune its profile and finished
verification tests. Through the CLI on a fake serving system (`serving_fakes`), which
stops (Ctrl-C) at a chosen test."""
import json

import pytest

from adapter_helpers import import_or_skip
from serving_fakes import FakeSystem
from suite import storage
from suite.cli import main
from suite.serving.session import Session
from suite.serving.tune import TUNE_FILE

COMMON = ["--framework", "onnx", "--models", "resnet18", "--image-size", "32",
          "--duration", "1", "--no-report", "--quiet"]
SERVE = ["serve", *COMMON, "--instances", "1", "--threads", "1"]
TUNE = ["tune", *COMMON, "--qps", "100", "--p99", "100", "--batches", "1,4",
        "--profile-duration", "1", "--peak-steps", "3"]


@pytest.fixture(autouse=True)
def _needs_loadgen():
    import_or_skip("mlperf_loadgen", "onnx", "pip install mlcommons-loadgen")


def dlbench(monkeypatch, capsys, fake: FakeSystem, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(Session, "measure", fake.measure_method())
    code = main(list(args))
    return code, capsys.readouterr().err


def rates(specs) -> list[float]:
    return [s.target_qps for s in specs]


def test_an_interrupted_serve_resumes_measuring_only_the_missing_points(
        tmp_path, monkeypatch, capsys):
    out = ["--out", str(tmp_path)]
    code, err = dlbench(monkeypatch, capsys, FakeSystem(stop_at=2), *SERVE, "--qps",
                        "20,40,80", *out)
    assert code == 130 and f"continue with --resume --out {tmp_path}" in err
    assert rates(m.spec for m in storage.load_measurements(tmp_path)) == [20.0]
    code, err = dlbench(monkeypatch, capsys, FakeSystem(), *SERVE, "--qps", "20,40,80", *out)
    assert code == 2 and "use --resume" in err            # never appended to by accident
    fake = FakeSystem()
    assert dlbench(monkeypatch, capsys, fake, *SERVE, "--qps", "20,40,80", *out,
                   "--resume")[0] == 0
    assert rates(fake.measured) == [40.0, 80.0]            # 20 was stored
    assert sorted(rates(m.spec for m in storage.load_measurements(tmp_path))) == \
        [20.0, 40.0, 80.0]
    info = storage.read_run_info(tmp_path)
    assert info.task == "serve" and len(info.resumes) == 1


def test_an_interrupted_peak_search_replays_its_probes_and_ends_where_a_whole_one_ends(
        tmp_path, monkeypatch, capsys):
    search = [*SERVE, "--find-peak", "--p99", "100", "--qps", "50", "--peak-steps", "6"]
    whole = FakeSystem()
    assert dlbench(monkeypatch, capsys, whole, *search, "--out", str(tmp_path / "a"))[0] == 0
    assert len(whole.measured) == 6
    assert dlbench(monkeypatch, capsys, FakeSystem(stop_at=4), *search,
                   "--out", str(tmp_path / "b"))[0] == 130
    rest = FakeSystem()
    assert dlbench(monkeypatch, capsys, rest, *search, "--out", str(tmp_path / "b"),
                   "--resume")[0] == 0
    assert rates(rest.measured) == rates(whole.measured)[3:]


def test_an_interrupted_tune_continues_from_its_last_finished_test(tmp_path, monkeypatch,
                                                                   capsys):
    whole = FakeSystem()
    assert dlbench(monkeypatch, capsys, whole, *TUNE, "--out", str(tmp_path / "a"))[0] == 0
    profile = sum(1 for s in whole.measured if s.stage == "profile")
    stop = profile + 4                                    # in the verification's repeats
    assert dlbench(monkeypatch, capsys, FakeSystem(stop_at=stop), *TUNE,
                   "--out", str(tmp_path / "b"))[0] == 130
    rest = FakeSystem()
    assert dlbench(monkeypatch, capsys, rest, *TUNE, "--out", str(tmp_path / "b"),
                   "--resume")[0] == 0
    assert rest.measured == whole.measured[stop - 1:]      # nothing measured twice
    a, b = (json.loads((tmp_path / d / TUNE_FILE).read_text()) for d in "ab")
    assert a == b


def test_a_resume_that_would_measure_differently_is_refused(tmp_path, monkeypatch, capsys):
    out = ["--out", str(tmp_path)]
    assert dlbench(monkeypatch, capsys, FakeSystem(stop_at=2), *SERVE, "--qps", "20,40",
                   *out)[0] == 130
    code, err = dlbench(monkeypatch, capsys, FakeSystem(), *SERVE, "--qps", "20,40", *out,
                        "--resume", "--duration", "2")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1
    assert "--duration 1.0, this command has --duration 2.0" in lines[0]
    code, err = dlbench(monkeypatch, capsys, FakeSystem(), *TUNE, *out, "--resume")
    assert code == 2 and "is a serve run, not tune" in err
