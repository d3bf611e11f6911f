"""Nothing measured is lost on disk: torn and malformed lines, failed writes, resume history
(CONTRACT §8, §10)."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from suite.env import fingerprint
from suite.errors import DataWarning, UsageError
from suite.resume import resume_run
from suite.spec import Measurement, PointSpec
from suite.storage import (POINTS_FILE, RunInfo, append_measurement, load_measurements,
                           read_run_info, repair_torn_line, write_run_info)


def point(bs: int) -> Measurement:
    spec = PointSpec(task="infer", framework="pytorch", optimization="none", model="resnet18",
                     batch_size=bs, input_size=32, threads=1)
    return Measurement(spec, samples_ns=[1_000_000 * bs] * 5, items_per_step=bs)


def batches(run: Path) -> list[int]:
    return sorted(m.spec.batch_size for m in load_measurements(run))


CONFIG = {"task": "infer", "seed": 0, "precision": 0.02, "min_time": 1.0, "max_time": 10.0,
          "samples": 8000, "lr": 0.01}
ENV = {"hostname": "h", "versions": {"python": "3.11.0", "torch": "2.13.0",
                                     "matplotlib": "3.9.0"}}


def new_run(path: Path, points=(), config=CONFIG, env=ENV) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task="infer", command=["dlbench", "infer"],
                                 config=dict(config), environment=env,
                                 started_at="2026-01-01T00:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


def tear_last_line(run: Path, keep_bytes: int = 40) -> None:
    """A crash mid-write: the last record loses its end and its newline."""
    path = run / POINTS_FILE
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    os.truncate(path, start + keep_bytes)


def test_a_record_is_never_glued_to_a_torn_line(tmp_path):
    run = new_run(tmp_path / "run", [point(1), point(2), point(4)])
    tear_last_line(run)
    append_measurement(run, point(8))          # without a repair first
    with pytest.warns(DataWarning, match=rf"{POINTS_FILE}:3: skipped a malformed line"):
        assert batches(run) == [1, 2, 8]       # only the torn point is missing


def test_resume_cuts_the_torn_line_and_remeasures_its_point(tmp_path):
    run = new_run(tmp_path / "run", [point(1), point(2), point(4)])
    tear_last_line(run)
    with pytest.warns(DataWarning, match=rf"{POINTS_FILE}:3: removed a line torn"):
        repair_torn_line(run)
    assert (run / POINTS_FILE).read_bytes().endswith(b"\n")
    assert len((run / POINTS_FILE).read_text().splitlines()) == 2
    append_measurement(run, point(4))          # measured again
    append_measurement(run, point(8))
    assert batches(run) == [1, 2, 4, 8]


def test_malformed_lines_are_skipped_with_a_warning_naming_them(tmp_path):
    run = new_run(tmp_path / "run", [point(1)])
    incomplete = point(2).to_record()
    del incomplete["spec"]["batch_size"]
    with open(run / POINTS_FILE, "a") as f:
        f.write("null\n")                                   # line 2
        f.write(json.dumps({"status": "ok"}) + "\n")        # line 3: no spec
        f.write(json.dumps(incomplete) + "\n")              # line 4: spec lacks batch_size
        f.write("[1, 2]\n")                                 # line 5
        f.write(json.dumps(dict(point(4).to_record(), samples_ns=None)) + "\n")  # line 6
    append_measurement(run, point(8))                       # line 7
    with pytest.warns(DataWarning) as caught:
        assert batches(run) == [1, 8]
    messages = [str(w.message) for w in caught]
    assert [m.split(": skipped")[0].rsplit(":", 1)[1] for m in messages] == \
        ["2", "3", "4", "5", "6"]
    assert "batch_size" in messages[2] and "JSON list" in messages[3]


def test_failed_write_is_undone_and_reported_in_one_line(tmp_path, monkeypatch):
    run = new_run(tmp_path / "run", [point(1)])
    before = (run / POINTS_FILE).read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(UsageError, match="No space left on device.*--resume"):
        append_measurement(run, point(2))
    monkeypatch.undo()
    assert (run / POINTS_FILE).read_bytes() == before
    assert batches(run) == [1]


def test_run_folder_that_is_a_file_or_unwritable(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        new_run(tmp_path / "file")
    with pytest.raises(UsageError, match="cannot write the run folder"):
        new_run(tmp_path / "file" / "run")
    with pytest.raises(UsageError, match="cannot write the run folder"):
        new_run(Path("/proc/dlbench-cannot-be-here"))


def test_resume_keeps_the_history(tmp_path):
    run = new_run(tmp_path / "run", [point(1)])
    for n in (1, 2):
        done = resume_run(run, ["dlbench", "infer", "--resume", str(n)], dict(CONFIG),
                          dict(ENV, hostname=f"h{n}"), f"2026-01-0{n + 1}T00:00:00")
        assert done == {point(1).spec.key()}
    info = read_run_info(run)
    assert info.command == ["dlbench", "infer"] and info.environment == ENV
    assert info.started_at == "2026-01-01T00:00:00"
    assert [r["command"][-1] for r in info.resumes] == ["1", "2"]
    assert [r["environment"]["hostname"] for r in info.resumes] == ["h1", "h2"]
    assert info.resumes[1]["started_at"] == "2026-01-03T00:00:00"


@pytest.mark.parametrize("setting,value", [("seed", 1), ("precision", 0.05), ("lr", 0.1),
                                           ("samples", 4000)])
def test_resume_refuses_other_measurement_settings(tmp_path, setting, value):
    run = new_run(tmp_path / "run", [point(1)])
    option = "--" + setting.replace("_", "-")
    with pytest.raises(UsageError, match=rf"measured with {option} .* this command has "
                                         rf"{option} {value}"):
        resume_run(run, ["x"], dict(CONFIG, **{setting: value}), ENV, "now")
    assert read_run_info(run).resumes == []       # nothing recorded


def test_resume_refuses_other_framework_versions_but_not_report_packages(tmp_path):
    run = new_run(tmp_path / "run", [point(1)])
    newer = {"versions": dict(ENV["versions"], torch="2.14.0")}
    with pytest.raises(UsageError, match="measured with torch 2.13.0, this environment has "
                                         "torch 2.14.0"):
        resume_run(run, ["x"], dict(CONFIG), newer, "now")
    plots_only = {"versions": dict(ENV["versions"], matplotlib="3.10.0")}
    assert resume_run(run, ["x"], dict(CONFIG), plots_only, "now")


def test_resume_checks_only_the_software_its_own_frameworks_measure_with(tmp_path):
    config = dict(CONFIG, frameworks=["pytorch"])
    env = {"versions": dict(ENV["versions"], numpy="1.26.4", onnxruntime="1.30.0",
                            **{"cupy-cuda13x": "14.2.0"})}
    run = new_run(tmp_path / "run", [point(1)], config=config, env=env)
    others = {"versions": dict(env["versions"], onnxruntime="1.32.0",
                               **{"cupy-cuda13x": "14.3.0"})}
    assert resume_run(run, ["x"], dict(config), others, "now")
    for name, version in (("torch", "2.14.0"), ("numpy", "2.5.2"), ("python", "3.12.3")):
        changed = {"versions": dict(env["versions"], **{name: version})}
        with pytest.raises(UsageError, match=f"measured with {name} .*, this environment has "
                                             f"{name} {version}"):
            resume_run(run, ["x"], dict(config), changed, "now")
    serving = new_run(tmp_path / "serve", [point(1)], env=env,
                      config=dict(CONFIG, framework="onnx"))
    assert resume_run(serving, ["x"], dict(CONFIG, framework="onnx"),
                      {"versions": dict(env["versions"], torch="2.14.0")}, "now")
    with pytest.raises(UsageError, match="with onnxruntime 1.30.0"):
        resume_run(serving, ["x"], dict(CONFIG, framework="onnx"), others, "now")


def test_resume_refuses_another_machine_but_not_another_host_of_the_same_kind(tmp_path):
    h200 = {"hostname": "a", "cpu_model": "Xeon", "physical_cores": 8, "logical_cores": 16,
            "sockets": 1, "gpus": [{"name": "NVIDIA H200", "memory_mib": 143771.0}],
            "versions": ENV["versions"]}
    run = new_run(tmp_path / "run", [point(1)], env=h200)
    twin = dict(h200, hostname="b", gpus=[{"name": "NVIDIA H200", "memory_mib": None}])
    assert resume_run(run, ["x"], dict(CONFIG), twin, "now")
    h100 = dict(h200, gpus=[{"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559.0}])
    with pytest.raises(UsageError, match=r'was measured on gpus \["NVIDIA H200"\], this '
                                         r'machine has \["NVIDIA H100 80GB HBM3"\]; points '
                                         r"of two machines would be mixed"):
        resume_run(run, ["x"], dict(CONFIG), h100, "now")
    with pytest.raises(UsageError, match='on physical_cores 8, this machine has 2'):
        resume_run(run, ["x"], dict(CONFIG), dict(h200, physical_cores=2), "now")
    assert len(read_run_info(run).resumes) == 1      # only the twin's resume recorded


def test_resume_refuses_a_run_of_the_other_task(tmp_path):
    run = new_run(tmp_path / "run")
    with pytest.raises(UsageError, match="is a infer run, not train"):
        resume_run(run, ["x"], dict(CONFIG, task="train"), ENV, "now")


def dlbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_cli_resume_with_other_settings_exits_2_before_measuring(tmp_path):
    config = {"task": "infer", "seed": 0, "precision": 0.02}
    run = new_run(tmp_path / "run", [point(1)], config=config,
                  env={"versions": fingerprint()["versions"]})
    r = dlbench("infer", "--models", "resnet18", "--batches", "1,2", "--threads", "1",
                "--opts", "none", "--image-size", "32", "--seed", "7", "--out", str(run),
                "--resume")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"dlbench: error: --resume: {run} was measured with --seed 0, this command has "
        f"--seed 7; points measured differently would be mixed (repeat the original "
        f"setting, or use another --out)"]
    assert batches(run) == [1] and not (run / "workers.log").exists()


@pytest.mark.slow
def test_compare_and_report_survive_malformed_lines(tmp_path):
    runs = []
    for name in ("a", "b"):
        run = new_run(tmp_path / name, [point(1), point(2)])
        with open(run / POINTS_FILE, "a") as f:
            f.write("null\n" + json.dumps({"spec": {"model": "resnet18"}}) + "\n")
        runs.append(run)
    r = dlbench("compare", str(runs[0]), str(runs[1]))
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.strip()]
    assert warnings == [f"dlbench: warning: {run / POINTS_FILE}:{n}: skipped a malformed "
                        f"line: {why}" for run in runs
                        for n, why in ((3, "a JSON NoneType instead of a record"),
                                       (4, "its spec lacks task, framework, optimization, "
                                           "batch_size, input_size"))]
    r = dlbench("report", str(runs[0]))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "report:" in r.stdout


def test_a_spec_says_only_what_it_is():
    """Train and infer points carry no serving fields, on disk or in their identity; a
    serving point keeps them."""
    from suite.spec import SERVING_FIELDS
    train = PointSpec("train", "pytorch", "none", "resnet18", 2, 32)
    assert not set(SERVING_FIELDS) & set(train.to_dict()) and "instances" not in train.key()
    assert PointSpec.from_dict(dict(train.to_dict(), instances=1, stage="")) == train
    with pytest.raises(ValueError, match="no serving fields \\(instances\\)"):
        PointSpec("infer", "pytorch", "none", "resnet18", 2, 32, instances=2)
    serve = PointSpec("serve", "onnx", "script", "resnet18", 8, 32, instances=2,
                      scenario="server", target_qps=50.0)
    assert serve.to_dict()["instances"] == 2 and PointSpec.from_dict(serve.to_dict()) == serve
