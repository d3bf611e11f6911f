"""`--profile` around a sweep, on fake workers: the timed figures are the same with and
without it; the report's "Where the time goes" section and summary line; `compare
--profile` attribution; bad `--profile` input (one line, exit 2)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from suite import cli, runner, storage
from suite.profiling import worker as profile_worker
from suite.profiling.attribution import attribute
from suite.profiling.breakdown import OpTime
from suite.report.compare import compare_runs
from suite.report.compare_profile import profile_section
from suite.report.where_time import extra_time_line, where_time_lines
from suite.spec import Measurement, PointSpec

# ms per step per op of each fake framework's profile: a conv-heavy and a layout-heavy one
FAKE_OPS = {"pytorch": [("aten::mkldnn_convolution", 6.0), ("aten::copy_", 1.0)],
            "mxnet": [("Convolution", 12.1), ("Reorder", 3.9), ("Pooling", 0.5)]}


def fake_samples(spec: PointSpec, process: int) -> list[int]:
    """Fixed step times per point and process (from its key): what a fake adapter measured."""
    seed = int(hashlib.blake2b(f"{spec.key()}{process}".encode(), digest_size=2).hexdigest(), 16)
    base = 8_000_000 if spec.framework == "pytorch" else 16_000_000
    return [base + (seed * 7 + 13 * i) % 400_000 for i in range(40)]


class FakeCollector:
    framework, profiled_first, note, profiler = "fake", False, "", "a fake profiler"

    def __init__(self, framework: str) -> None:
        self.framework = framework

    def start(self, runnable, workdir):
        runnable.profiling = True

    def stop(self, runnable, steps):
        runnable.profiling = False
        return [OpTime(name, ms * 1000 * steps, steps) for name, ms in FAKE_OPS[self.framework]], "host"


class FakeRunnable:
    """Steps that take no time; the windows' clock is faked by `timed_window`."""

    profiling = False

    def step(self) -> None:
        pass

    def synchronize(self) -> None:
        pass


class FakeWorker:
    """`suite.runner.Worker` in-process: the timed worker answers fixed measurements, the
    profile worker runs the real window logic on a fake runnable and collector."""

    processes: dict[str, int] = {}   # per point key: the processes measured so far

    def __init__(self, init, log_path, opts, module="suite.worker"):
        self.init, self.module, self.sent = init, module, None

    def send(self, msg):
        self.sent = msg

    def receive(self, timeout_s):
        if self.sent is None:
            return {"ready": {"ok": True, "version": "fake", "reason": "", "install": "",
                              "devices": ["cpu"], "device_reason": "", "placement": {}}}
        spec = PointSpec.from_dict(self.sent["point"]["spec"])
        if self.module == "suite.worker":
            n = self.processes[spec.key()] = self.processes.get(spec.key(), 0) + 1
            m = Measurement(spec, samples_ns=fake_samples(spec, n), precision_reached=True,
                            items_per_step=spec.batch_size, memory={"peak_rss_mib": 100.0})
            return {"measurement": m.to_record()}
        runnable = FakeRunnable()
        rec = profile_worker.profile_runnable(runnable, FakeCollector(spec.framework), spec,
                                              dict(profile_worker.DEFAULTS, warmup_s=0,
                                                   window_s=0, min_steps=4), Path("."))
        return {"profile": rec}

    def close(self, kill=False):
        pass


def fake_window(runnable, steps):
    """Profiled windows 10% slower than unprofiled ones."""
    return int(steps * 1e6 * (17.6 if runnable.profiling else 16.0))


@pytest.fixture
def fake_workers(monkeypatch):
    monkeypatch.setattr(FakeWorker, "processes", {})
    monkeypatch.setattr(runner, "Worker", FakeWorker)
    monkeypatch.setattr(profile_worker, "timed_window", fake_window)


def sweep(out: Path, *extra: str) -> int:
    return cli.main(["train", "--frameworks", "pytorch,mxnet", "--models", "resnet18",
                     "--batches", "2,4", "--image-size", "32", "--threads", "1",
                     "--processes", "3", "--min-effect", "1", "--out", str(out), "--quiet",
                     *extra])


TIMING_COLUMNS = ["median_ms", "ci_low_ms", "ci_high_ms", "items_per_second",
                  "items_per_second_ci_low", "items_per_second_ci_high", "memory_mib",
                  "precision_reached", "status"]


def test_profile_leaves_the_timed_figures_as_they_are(fake_workers, tmp_path, capsys):
    assert sweep(tmp_path / "plain") == 0
    FakeWorker.processes.clear()   # the second sweep's processes measure what the first's did
    assert sweep(tmp_path / "profiled", "--profile") == 0
    plain = pd.read_csv(tmp_path / "plain" / "points.csv")
    profiled = pd.read_csv(tmp_path / "profiled" / "points.csv")
    pd.testing.assert_frame_equal(plain[TIMING_COLUMNS], profiled[TIMING_COLUMNS])
    stored = storage.load_measurements(tmp_path / "profiled")
    assert all(m.profile and m.profile["status"] == "ok" for m in stored if not m.spec.arm)
    assert not any(m.profile for m in storage.load_measurements(tmp_path / "plain"))
    p = next(m.profile for m in stored if m.spec.framework == "mxnet")
    assert p["profiled_step_ms"] == 17.6 and p["unprofiled_step_ms"] == 16.0
    assert p["profiler_cost_pct"] == pytest.approx(10.0)
    assert p["classes_ms"]["conv"] == 12.1 and p["classes_ms"]["layout"] == 3.9
    assert p["overhead_ms"] == pytest.approx(17.6 - 16.5)
    # the report: the section, its picture and table, and the summary's line
    index = (tmp_path / "profiled" / "index.md").read_text()
    assert "# Where the time goes" in index and "## ResNet-18, train, batch 2" in index
    assert "6.0 (34%)" in index and "12.1 (69%)" in index
    assert "mxnet (hybridized)'s extra" in index
    assert list((tmp_path / "profiled" / "plots").glob("where-time-*.png"))
    assert "Where the time goes" not in (tmp_path / "plain" / "index.md").read_text()
    assert (tmp_path / "profiled" / "profile.csv").is_file()


def test_the_summary_line_says_where_the_extra_time_goes():
    fast = Measurement(PointSpec("train", "pytorch", "none", "resnet18", 4, 64),
                       profile=fake_profile(conv=6.0, layout=1.0, overhead=1.0, timed=8.2))
    slow = Measurement(PointSpec("train", "mxnet", "script", "resnet18", 4, 64),
                       profile=fake_profile(conv=12.1, layout=3.9, overhead=1.8, timed=18.0))
    assert extra_time_line(fast, slow) == (
        "mxnet (hybridized)'s extra 9.8 ms per step over pytorch (eager) (ResNet-18, batch 4): "
        "6.1 ms convolution, 2.9 ms layout/copies, 0.8 ms framework overhead")
    lead = SimpleNamespace(lead=True, spec=slow.spec, reference=fast.spec)
    tie = SimpleNamespace(lead=False, spec=slow.spec, reference=fast.spec)
    assert where_time_lines([fast, slow], [lead]) == [extra_time_line(fast, slow)]
    assert where_time_lines([fast, slow], [tie]) == []


def fake_profile(conv: float, layout: float, overhead: float, timed: float) -> dict:
    classes = {"conv": conv, "layout": layout}
    step = conv + layout + overhead
    return {"status": "ok", "classes_ms": classes, "classes_pct": {}, "overhead_ms": overhead,
            "profiled_step_ms": step, "unprofiled_step_ms": step, "timed_step_ms": timed,
            "op_self_ms": conv + layout, "profiler_cost_pct": 0.0}


def test_compare_attributes_a_flagged_change_to_the_classes_that_changed():
    spec = PointSpec("infer", "onnx", "script", "resnet18", 1, 64)
    a = Measurement(spec, profile=fake_profile(conv=4.0, layout=1.0, overhead=0.5, timed=5.5))
    b = Measurement(spec, profile=fake_profile(conv=4.2, layout=3.0, overhead=0.6, timed=7.9))
    found = attribute(a.profile, b.profile)
    assert found.profiled_change_ms == pytest.approx(2.3)
    assert found.timed_change_ms == pytest.approx(2.4)
    assert [p.cls for p in found.parts[:3]] == ["layout", "conv", "overhead"]
    assert found.text() == "+2.0 ms layout/copies (87%), +0.2 ms convolution (9%)"
    flagged = [SimpleNamespace(spec=spec, ratio=1.43, verdict="regression")]
    text = "".join(profile_section(flagged, {spec.key(): a}, {spec.key(): b}))
    assert "Where the changes come from" in text and "+2.0 ms layout/copies (87%)" in text
    assert "5.5 → 7.9" in text and "+43.0% time per item (regression)" in text
    unprofiled = {spec.key(): Measurement(spec)}
    assert "not profiled in both runs" in "".join(profile_section(flagged, unprofiled,
                                                                  {spec.key(): b}))


def test_compare_profile_on_runs_that_were_not_profiled_is_one_line_exit_2(
        fake_workers, tmp_path, capsys):
    assert sweep(tmp_path / "a", "--no-report") == 0
    assert sweep(tmp_path / "b", "--profile", "--no-report") == 0
    capsys.readouterr()
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--profile"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was not profiled" in err[0] and "python -m suite profile" in err[0]
    result = compare_runs(tmp_path / "b", tmp_path / "b", profile=True)
    assert "Where the changes come from" in result.render()   # nothing flagged: says so
    assert "no regression or improvement to attribute" in result.render()


@pytest.mark.parametrize("argv,words", [
    (["train", "--profile", "--launcher", "slurm", "--models", "resnet18"], "--launcher slurm"),
    (["train", "--profile", "--nproc-per-node", "2", "--models", "resnet18",
      "--frameworks", "pytorch"], "--nproc-per-node"),
    (["infer", "--profile", "--dry-run", "--models", "resnet18"], "--dry-run"),
    (["profile", "/nonexistent/run"], "not a dlbench run folder"),
    (["profile", ".", "--window", "0"], None),
])
def test_bad_profile_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path):
    if argv[:2] == ["profile", "."]:
        storage.write_run_info(tmp_path, storage.RunInfo("t", "train", [], {}, {}, ""))
        argv = ["profile", str(tmp_path), "--window", "0"]
        words = "--window"
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
