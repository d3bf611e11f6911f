"""The options and records around interleaved rounds (issue 20 §1, §3): the control arm's
points, --schedule / --control / --reference / --min-effect in run.json and --resume,
the run folder's files, the estimate and the progress lines; one small real sweep."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

import pytest

from suite.blocks import CONTROL_ARM, block_key
from suite.errors import DataWarning, UsageError
from suite.spec import Measurement, PointSpec, combine_processes
from suite.sweep import add_control_arms, control_block_keys, control_blocks
from suite.topology import read_topology


def spec(fw="pytorch", opt="none", bs=1, threads=1, model="resnet18", arm=""):
    return PointSpec(task="infer", framework=fw, optimization=opt, model=model,
                     batch_size=bs, input_size=32, threads=threads, arm=arm)


# --- the control arm's points ----------------------------------------------------------------

def two_variant_blocks(n: int) -> list[PointSpec]:
    return [spec(fw, opt, bs) for bs in range(1, n + 1)
            for fw, opt in (("pytorch", "none"), ("onnx", "script"))]


def test_some_control_arms_go_to_a_seeded_quarter_of_the_blocks_that_have_ratios():
    specs = two_variant_blocks(8) + [spec(model="squeezenet")]   # one single-variant block
    ref = ("pytorch", "none")
    chosen = control_block_keys(specs, ref, "some", seed=0)
    assert len(chosen) == 2                                       # a quarter of 8
    assert block_key(spec(model="squeezenet")) not in chosen      # nothing to compare there
    assert control_block_keys(specs, ref, "some", seed=0) == chosen
    assert len({tuple(control_block_keys(specs, ref, "some", s)) for s in range(10)}) > 1
    assert len(control_block_keys(two_variant_blocks(5), ref, "some", 0)) == 2   # rounded up
    assert len(control_block_keys(two_variant_blocks(1), ref, "some", 0)) == 1   # at least one
    assert len(control_block_keys(specs, ref, "all", 0)) == 8
    assert control_block_keys(specs, ref, "none", 0) == []
    assert control_block_keys([spec(model="squeezenet")], ref, "all", 0) == []
    # a block without the reference variant has no ratio to it
    assert control_block_keys(two_variant_blocks(2), ("mxnet", "script"), "all", 0) == []


def test_a_control_arm_is_a_copy_of_the_reference_right_after_it():
    specs = two_variant_blocks(4)
    ref = ("onnx", "script")
    out = add_control_arms(specs, ref, "all", seed=0)
    assert len(out) == 12
    for i, s in enumerate(out):
        if s.arm:
            assert s.arm == CONTROL_ARM and out[i - 1] == PointSpec(**{**s.to_dict(), "arm": ""})
            assert (s.framework, s.optimization) == ref and s.key() != out[i - 1].key()
            assert block_key(s) == block_key(out[i - 1])
    control = next(s for s in out if s.arm)
    assert control.label() == "infer onnx/script resnet18@32 bs=1 thr=1 cpu [control]"
    stored = control_blocks(out)
    assert len(stored) == 4 and stored[0]["batch_size"] == 1
    assert "framework" not in stored[0] and "arm" not in stored[0]


def test_processes_keep_their_round_in_the_combined_record():
    parts = [Measurement(spec(), samples_ns=[1_000_000] * 5, items_per_step=1,
                         meta={"round": r, "worker_pid": r}) for r in (1, 3)]
    combined = combine_processes(parts)
    assert [p["round"] for p in combined.meta["processes"]] == [1, 3]


# --- options and run.json --------------------------------------------------------------------

def resolve(*argv):
    from suite import commands
    from suite.cli import build_parser
    args = build_parser().parse_args(["infer", "--models", "resnet18", "--batches", "1",
                                      "--threads", "1", *argv])
    return commands.resolve(args, read_topology())


def test_rounds_and_some_control_arms_are_the_default_with_several_processes():
    cfg = resolve("--frameworks", "pytorch,onnx")
    stored = cfg.to_dict()
    assert stored["schedule"] == "interleaved" and stored["control"] == "some"
    assert stored["reference"] == {"framework": "pytorch", "optimization": "none"}
    assert stored["min_effect"] == pytest.approx(0.02)
    one = resolve("--processes", "1").to_dict()
    assert one["schedule"] == "sequential" and one["control"] == "none"
    cfg = resolve("--frameworks", "pytorch,onnx", "--schedule", "sequential", "--reference",
                  "onnxruntime", "--min-effect", "5", "--no-control")
    assert (cfg.schedule, cfg.control, cfg.min_effect) == ("sequential", "none", 0.05)
    assert cfg.reference == {"framework": "onnx", "optimization": "script"}
    assert resolve("--frameworks", "pytorch", "--opts", "none,script", "--reference",
                   "pytorch:script").reference["optimization"] == "script"


def test_a_slurm_sweep_and_shared_workers_keep_the_sequential_schedule():
    assert resolve("--launcher", "slurm").schedule == "sequential"
    with pytest.raises(UsageError, match="not with --launcher slurm.*valid: sequential"):
        resolve("--launcher", "slurm", "--schedule", "interleaved")
    assert resolve("--no-worker-per-point").schedule == "sequential"
    with pytest.raises(UsageError, match="not with --no-worker-per-point.*valid: sequential"):
        resolve("--no-worker-per-point", "--schedule", "interleaved")


@pytest.mark.parametrize("argv,expected", [
    (["--schedule", "random"], "--schedule: unknown value 'random'; valid: interleaved, "
                               "sequential"),
    (["--control", "half"], "--control: unknown value 'half'; valid: some, all, none"),
    (["--control", "all", "--no-control"], "--no-control and --control all: give one"),
    (["--reference", "mxnet"], "--reference mxnet: 'mxnet' is not a framework of this sweep; "
                               "valid: pytorch, onnx"),
    (["--reference", "onnx:none"], "--reference onnx:none: onnx runs no 'none' in this "
                                   "sweep; valid: script"),
    (["--min-effect", "-1"], "--min-effect: -1 must be a finite number at least 0"),
])
def test_bad_round_options_name_the_valid_ones(argv, expected):
    with pytest.raises(UsageError) as e:
        resolve("--frameworks", "pytorch,onnx", *argv)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_bad_reference_is_one_line_and_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "suite", "infer", "--frameworks", "pytorch,onnx",
                        "--reference", "caffe2", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "valid: pytorch, onnx" in r.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("name,old,new", [
    ("schedule", "interleaved", "sequential"), ("control", "some", "none"),
    ("reference", {"framework": "pytorch", "optimization": "none"},
     {"framework": "onnx", "optimization": "script"}),
    ("min_effect", 0.02, 0.05), ("resolve", 0.0, 0.05)])
def test_resume_refuses_other_round_settings(tmp_path, name, old, new):
    from suite.resume import resume_run
    from suite.storage import RunInfo, write_run_info
    config = {"task": "infer", name: old}
    write_run_info(tmp_path, RunInfo(run_id="r", task="infer", command=["x"], config=config,
                                     environment={}, started_at="now"))
    with pytest.raises(UsageError, match=f"--{name.replace('_', '-')}"):
        resume_run(tmp_path, ["x"], dict(config, **{name: new}), {}, "now")
    resume_run(tmp_path, ["x"], dict(config), {}, "now")         # the same is fine


def test_a_run_from_before_rounds_resumes_only_in_its_sequential_order(tmp_path):
    from suite.resume import resume_run
    from suite.storage import RunInfo, write_run_info
    old = {"task": "infer", "processes": 3}
    write_run_info(tmp_path, RunInfo(run_id="r", task="infer", command=["x"], config=old,
                                     environment={}, started_at="now"))
    with pytest.raises(UsageError, match='measured with --schedule "sequential", this '
                                         'command has --schedule "interleaved"'):
        resume_run(tmp_path, ["x"], dict(old, schedule="interleaved"), {}, "now")
    resume_run(tmp_path, ["x"], dict(old, schedule="sequential"), {}, "now")


# --- the run folder's other files ------------------------------------------------------------

def test_the_newest_record_of_each_point_in_first_seen_order(tmp_path):
    from suite.storage import append_measurement, load_measurements
    a, b = spec(bs=1), spec(bs=2)
    for s, pid in ((a, 1), (b, 1), (a, 2), (b, 2), (a, 3)):
        append_measurement(tmp_path, Measurement(s, samples_ns=[1000] * 3, items_per_step=1,
                                                 meta={"worker_pid": pid}))
    newest = load_measurements(tmp_path)
    assert [(m.spec.batch_size, m.meta["worker_pid"]) for m in newest] == [(1, 3), (2, 2)]


def test_resume_cuts_torn_lines_of_the_rounds_files(tmp_path):
    from suite.resume import resume_run, round_state
    from suite.storage import (PROCESSES_FILE, ROUNDS_FILE, RunInfo, append_process,
                               append_round, write_run_info)
    write_run_info(tmp_path, RunInfo(run_id="r", task="infer", command=["x"],
                                     config={"task": "infer"}, environment={},
                                     started_at="now"))
    m = Measurement(spec(), samples_ns=[1000] * 3, items_per_step=1, meta={"round": 1})
    append_process(tmp_path, m)
    append_round(tmp_path, {"round": 1, "order": [m.spec.key()], "finished": True})
    for name in (PROCESSES_FILE, ROUNDS_FILE):
        with open(tmp_path / name, "a") as f:
            f.write('{"round": 2, "ord')                     # a crash mid-write
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resume_run(tmp_path, ["x"], {"task": "infer"}, {}, "now")
    assert sum(issubclass(w.category, DataWarning) for w in caught) == 2
    state = round_state(tmp_path)
    assert state.last_round == 1 and [p.meta["round"] for p in state.parts[m.spec.key()]] == [1]


# --- the estimate and the console ------------------------------------------------------------

def test_the_estimate_counts_control_points_and_names_the_rounds():
    from suite.estimate import Estimate, PointCost, estimate_sweep, estimate_text
    loop = {"min_time_s": 1.0, "max_time_s": 3.0, "warmup_max_s": 10.0}
    points = [PointCost(1e-3, 100.0, 1)] * 4
    fresh = estimate_sweep(points, loop, 3)
    shared = estimate_sweep(points, loop, 3, worker_groups=1)
    assert fresh.likely_s - shared.likely_s == pytest.approx(3 * 3 * 4.0)  # 9 start-ups fewer
    text = estimate_text(Estimate(4, 3, 60.0, 120.0, schedule="interleaved", control_points=1))
    assert text.startswith("estimate: 4 points (1 of them control arms) x 3 processes, about")
    assert "by the time limits; 3 interleaved rounds, a fresh worker for each point in each" \
        in text


def test_the_console_shows_the_round_and_the_time_left(monkeypatch):
    from suite import progress
    clock = iter([0.0, 10.0, 20.0, 30.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    reporter = progress.ConsoleReporter(stream=out)
    reporter.start(6, 0)
    reporter.round_started(1, 3, 2)
    reporter.point_finished(Measurement(spec(), status="error", message="boom"))
    reporter.round_started(2, 3, 2)
    reporter.round_started(4, 3, 1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "round 1 of 3: 2 points, each in a fresh worker"
    assert lines[1].startswith("[1/6, round 1 of 3] error")
    # 10 s for the one measured point, 5 to go
    assert lines[2] == "round 2 of 3: 2 points, each in a fresh worker, ~0:00:50 left"
    assert lines[3].startswith("extra round 4 (past --processes 3): 1 points")


# --- one real sweep ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_interleaved_sweep_with_a_control_arm(tmp_path):
    """Two variants and the control copy of the reference, two rounds, real workers."""
    from suite.storage import load_measurements, load_processes, load_rounds, read_run_info
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "DLBENCH_FAULT"}
    argv = ["infer", "--frameworks", "pytorch", "--opts", "none,script", "--models",
            "resnet18", "--batches", "1", "--threads", "1", "--image-size", "32",
            "--min-time", "0.05", "--max-time", "0.3", "--processes", "2",
            "--max-processes", "2", "--out", str(out)]
    dry = subprocess.run([sys.executable, "-m", "suite", *argv, "--dry-run"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert "infer pytorch/none resnet18@32 bs=1 thr=1 cpu [control]" in dry.stdout.splitlines()
    r = subprocess.run([sys.executable, "-m", "suite", *argv, "--no-report"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "round 2 of 2: 3 points" in r.stderr
    config = read_run_info(out).config
    assert (config["schedule"], config["control"], len(config["control_blocks"])) == \
        ("interleaved", "some", 1)
    assert [len(x["order"]) for x in load_rounds(out)] == [3, 3]
    assert len(load_processes(out)) == 6
    points = load_measurements(out)
    assert sorted(m.spec.arm for m in points) == ["", "", CONTROL_ARM]
    for m in points:
        assert m.status == "ok", m.message
        assert [p["round"] for p in m.meta["processes"]] == [1, 2]
        assert len({p["worker_pid"] for p in m.meta["processes"]}) == 2
    certificate = read_run_info(out).certificate      # what the run resolves, in run.json
    assert certificate["rounds"] == 2 and certificate["paired"] is True
    assert certificate["control"]["arms"] == 1 and certificate["ratios"] == 2
