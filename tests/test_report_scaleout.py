"""The report's scale-out sections: the data-parallel scaling table and the hosts flag."""
from __future__ import annotations

from pathlib import Path

from suite.report import build_report
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info

ENV = {"cpu_model": "Test CPU", "physical_cores": 4, "logical_cores": 4, "gpus": [],
       "hostname": "login", "versions": {"python": "3.11.0"}}
CONFIG = {"task": "train", "models": ["resnet18"], "batches": [4], "threads": [1],
          "samples": 800, "optimizer": "sgd"}


def point(ranks: int, step_ms: list[float], batch: int = 4, host: str = "n1",
          cores: int = 4) -> Measurement:
    """A training point of `ranks` ranks; rank r's steps all take step_ms[r]."""
    spec = PointSpec("train", "pytorch", "none", "resnet18", batch, 32, threads=1,
                     nproc_per_node=ranks)
    per_rank = [[int(ms * 1e6)] * 20 for ms in step_ms]
    slowest = max(per_rank, key=sum)
    m = Measurement(spec, samples_ns=slowest, items_per_step=batch * ranks,
                    rank_samples_ns=per_rank if ranks > 1 else None,
                    memory={"peak_rss_mib": 300.0}, precision_reached=True)
    m.meta["host"] = {"hostname": host, "cpu_model": "Test CPU", "physical_cores": cores,
                      "logical_cores": cores, "sockets": 1, "gpus": []}
    return m


def write_run(path: Path, points: list[Measurement]) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task="train", command=["dlbench"],
                                 config=CONFIG, environment=ENV, started_at="2026-01-01"))
    for m in points:
        append_measurement(path, m)
    return path


def _row(path: Path, text: str) -> list[str]:
    """The cells of the scaling table's row containing `text`."""
    line = next(line for line in (path / "scaling.md").read_text().splitlines() if text in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_scaling_table_efficiency_and_straggler(tmp_path):
    # 1 process: 4 images / 100 ms = 40 images/s; 2 ranks: 8 images / 125 ms (the slowest
    # rank) = 64 images/s -> 64 / (2 x 40) = 80%; straggler 125 / median(100, 125) = 1.11
    run = write_run(tmp_path / "run", [point(1, [100.0]), point(2, [100.0, 125.0])])
    page = build_report(run).read_text()
    assert "# Data-parallel scaling" in page
    # no stored ratio (a record from before compute steps): from the timed steps, marked
    assert _row(run, "2 (1x2)")[-3:] == ["64.0", "80%", "1.11 (timed steps)"]
    assert _row(run, "(the baseline)")[-4:] == ["1", "40.0", "(the baseline)", "-"]


def test_without_a_one_process_point_the_table_says_so(tmp_path):
    run = write_run(tmp_path / "run", [point(2, [100.0, 100.0])])
    build_report(run)
    assert _row(run, "2 (1x2)")[-2] == "no 1-process point in this run"


def test_no_scaling_section_without_data_parallel_points(tmp_path):
    run = write_run(tmp_path / "run", [point(1, [100.0])])
    assert "Data-parallel scaling" not in build_report(run).read_text()
    assert not (run / "scaling.md").exists()


def test_hosts_are_listed_and_mixed_machines_flagged(tmp_path):
    run = write_run(tmp_path / "run", [point(1, [100.0], host="n1"),
                                       point(1, [100.0], batch=8, host="n2", cores=8)])
    page = build_report(run).read_text()
    assert "# Hosts" in page
    assert "MIXED HOSTS: the points ran on 2 different machines" in page
    assert "n2: Test CPU (8 cores, 8 threads), no GPU — 1 point(s)" in page
    same = write_run(tmp_path / "same", [point(1, [100.0], host="n1"),
                                         point(1, [100.0], batch=8, host="n2")])
    page = build_report(same).read_text()
    assert "# Hosts" in page and "MIXED HOSTS" not in page


def test_the_report_reads_the_run_once(tmp_path, monkeypatch):
    """Every section works from the one loaded run (`load_run`): points.jsonl is read once
    per build, scaling table and hosts included."""
    import suite.storage as storage
    run = write_run(tmp_path / "run", [point(1, [100.0]), point(2, [100.0, 125.0], host="n2")])
    reads = []
    original = storage._read_lines

    def counting(run_dir, name, parse):
        reads.append(name)
        return original(run_dir, name, parse)

    monkeypatch.setattr(storage, "_read_lines", counting)
    page = build_report(run).read_text()
    assert "# Data-parallel scaling" in page
    assert reads.count(storage.POINTS_FILE) == 1, reads
