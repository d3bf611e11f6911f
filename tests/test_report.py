"""Tables, plots and the report page, built from small synthetic run folders.

Training samples are constant so images/sec are exact; inference samples come from a
fixed RNG. Display names and reference accuracy come from the real zoo.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite.errors import UsageError
from suite.report import build_report, plots
from suite.report.frames import load_run
from suite.spec import Measurement, PointSpec
from suite.storage import RunInfo, append_measurement, write_run_info

CPU_ENV = {"cpu_model": "Test CPU @ 2.0GHz", "physical_cores": 4, "logical_cores": 8,
           "numa_nodes": [{"node": 0, "cpus": [0, 1, 4, 5]}, {"node": 1, "cpus": [2, 3, 6, 7]}],
           "gpus": [], "cuda": None, "hostname": "testhost", "git_commit": "abc123",
           "versions": {"python": "3.11.0", "numpy": "1.26.4", "dlbench": "0.1.0"}}
GPU_ENV = dict(CPU_ENV, gpus=[{"name": "Maxwell TITAN X", "memory_mib": 12288.0,
                               "driver": "550.1"}], cuda="12.4")
TRAIN_CONFIG = {"task": "train", "frameworks": ["pytorch", "tensorflow"],
                "models": ["resnet50", "resnet18", "resnet200"], "batches": [10, 20],
                "optimizations": {"pytorch": ["none"], "tensorflow": ["script"]},
                "device": "cpu", "dtype": "float32",
                "input_size": 64, "samples": 8000, "optimizer": "sgd", "lr": 0.01,
                "momentum": 0.9, "weight_decay": 1e-4, "threads": [2]}
RNG = np.random.default_rng(20240101)
MIB = 1 << 20


def point(framework="pytorch", optimization="none", model="resnet50", batch_size=10,
          status="ok", step_ms=100.0, task="train", threads=2, memory="local", ht=False,
          device="cpu", mem=None, noise=0.0, n=20, message="", input_size=64, precise=True,
          samples_ms=None, spread=0.0):
    """One synthetic measurement; samples are step_ms (plus relative noise from RNG, or
    alternately ± `spread`, a fraction), or exactly `samples_ms` where given."""
    spec = PointSpec(task=task, framework=framework, optimization=optimization, model=model,
                     batch_size=batch_size, input_size=input_size, device=device,
                     threads=threads, memory=memory, ht=ht)
    if status != "ok":
        return Measurement(spec, status=status, message=message or f"{status} message")
    scale = 1.0 + noise * RNG.standard_normal(n) + spread * (-1.0) ** np.arange(n)
    samples = [int(ms * 1e6) for ms in (samples_ms or step_ms * scale)]
    return Measurement(spec, samples_ns=samples, items_per_step=batch_size,
                       flops_per_item=1e9, cold_start_ns=int(step_ms * 3e6),
                       memory=mem if mem is not None else {"peak_rss_mib": 500.4 + batch_size},
                       precision_reached=precise, message=message,
                       summary={"median_ms": 1.0, "items_per_second": 1.0})  # stale on purpose


def write_run(path: Path, config: dict, points: list[Measurement], env=CPU_ENV) -> Path:
    write_run_info(path, RunInfo(run_id=path.name, task=config["task"],
                                 command=["python", "-m", "suite", config["task"]],
                                 config=config, environment=env,
                                 started_at="2026-01-01T12:00:00"))
    for m in points:
        append_measurement(path, m)
    return path


def training_points() -> list[Measurement]:
    """Steps alternate ±5% (±1% for the second tensorflow resnet50) around step_ms."""
    return [
        point(model="resnet18", batch_size=10, step_ms=100.0, spread=0.05),   # 100 images/s
        point(model="resnet18", batch_size=20, step_ms=150.0, spread=0.05),   # 133.3
        point(model="resnet50", batch_size=10, step_ms=400.0, spread=0.05),   # 25
        point(model="resnet50", batch_size=20, status="oom"),
        point(model="resnet200", batch_size=10, status="error", message="worker crashed"),
        point(model="resnet200", batch_size=20, status="timeout"),
        point("tensorflow", "script", model="resnet18", batch_size=10, step_ms=125.0,  # 80
              precise=False, message="precision ±2.0% not reached (max-time)", spread=0.05),
        point("tensorflow", "script", model="resnet18", batch_size=20, step_ms=100.0,  # 200
              spread=0.05),
        point("tensorflow", "script", model="resnet50", batch_size=10, step_ms=500.0,  # 20
              spread=0.05),
        point("tensorflow", "script", model="resnet50", batch_size=20, step_ms=1000.0,  # 20
              spread=0.01),
        point("tensorflow", "script", model="resnet200", batch_size=10, status="skipped",
              message="tensorflow is not installed: pip install tensorflow"),
    ]


@pytest.fixture(scope="module")
def train_run(tmp_path_factory) -> Path:
    run = write_run(tmp_path_factory.mktemp("train") / "run-train", TRAIN_CONFIG,
                    training_points())
    build_report(run)
    return run


SPEED_PYTORCH = """\
# Benchmark

## Speed (images/sec)

- dataset: 8000 samples
- batch size: 10, 20
- Optimizer: SGD
- CPU: Test CPU @ 2.0GHz (2 threads)
- framework: pytorch, optimization: none (eager), device: cpu, precision: float32, image size: 64
- cells: images/sec (Σ images / Σ step time) ± the half-width of its 95% confidence interval, rounded to the digits the interval supports

|model     |batch size 10|batch size 20|
|:---------|------------:|------------:|
|ResNet-18 |100.0 ± 1.9  |133 ± 2      |
|ResNet-50 |25.0 ± 0.5   |out of memory|
|ResNet-200|error        |timeout      |
"""

MEMORY_TENSORFLOW = """\
# Benchmark

## Memory usage (MiB)

- dataset: 8000 samples
- batch size: 10, 20
- Optimizer: SGD
- CPU: Test CPU @ 2.0GHz (2 threads)
- framework: tensorflow, optimization: script (tf.function), device: cpu, precision: float32, image size: 64

|model     |batch size 10|batch size 20|Reference accuracy<br>(imagenet1k Top-5)|
|:---------|------------:|------------:|---------------------------------------:|
|ResNet-18 |510          |520          |88.7%                                   |
|ResNet-50 |510          |520          |92.6%                                   |
|ResNet-200|skipped      |not run      |unknown                                 |
"""


def test_training_speed_table_markdown(train_run):
    assert (train_run / "train-speed-pytorch-none.md").read_text() == SPEED_PYTORCH


def test_training_memory_table_markdown(train_run):
    assert (train_run / "train-memory-tensorflow-script.md").read_text() == MEMORY_TENSORFLOW


def test_training_csv_cells(train_run):
    """Each figure with its CI's bounds in columns of their own, rounded alike."""
    speed = pd.read_csv(train_run / "train-speed-pytorch-none.csv", dtype=str,
                        keep_default_na=False)
    assert list(speed.columns) == ["model", "batch size 10", "batch size 10 CI low",
                                   "batch size 10 CI high", "batch size 20",
                                   "batch size 20 CI low", "batch size 20 CI high"]
    assert speed.values.tolist() == [["ResNet-18", "100.0", "98.2", "101.9", "133", "131", "136"],
                                     ["ResNet-50", "25.0", "24.5", "25.5", "out of memory", "", ""],
                                     ["ResNet-200", "error", "", "", "timeout", "", ""]]
    memory = pd.read_csv(train_run / "train-memory-pytorch-none.csv", dtype=str)
    assert memory.columns[-1] == "Reference accuracy (imagenet1k Top-5)"
    assert memory.values.tolist()[1] == ["ResNet-50", "510", "out of memory", "92.6%"]


CROSS_BS20 = """\
# Benchmark

## Speed (images/sec)

- batch size: 20
- Optimizer: SGD
- CPU: Test CPU @ 2.0GHz (2 threads)
- cells: images/sec (Σ images / Σ step time) ± the half-width of its 95% confidence interval, rounded to the digits the interval supports
- bold: the fastest, where the low bound of its 95% CI lies above every other column's high bound; lead: its images/sec over the next fastest

|model     |pytorch (eager)|tensorflow (tf.function)|lead (95% CI)|
|:---------|--------------:|-----------------------:|------------:|
|ResNet-18 |133 ± 2        |**200 ± 4**             |1.50x        |
|ResNet-50 |out of memory  |20.00 ± 0.07            |one measured |
|ResNet-200|timeout        |not run                 |none measured|
"""


def test_cross_framework_table_names_modes_and_marks_fastest(train_run):
    assert (train_run / "train-frameworks-bs20.md").read_text() == CROSS_BS20
    text = (train_run / "train-frameworks-bs10.md").read_text()
    assert text.splitlines()[-3:] == ["|ResNet-18 |**100.0 ± 1.9**|80.0 ± 1.5              |1.25x        |",
                                      "|ResNet-50 |**25.0 ± 0.5** |20.0 ± 0.4              |1.25x        |",
                                      "|ResNet-200|error          |skipped                 |none measured|"]
    csv = pd.read_csv(train_run / "train-frameworks-bs10.csv", dtype=str)
    assert csv.values.tolist()[0] == ["ResNet-18", "100.0", "98.2", "101.9", "80.0", "78.6",
                                      "81.5", "1.25x"]                    # no ** in CSV
    # a training run draws no inference plots: only the bar charts and rooflines
    assert sorted(p.name for p in train_run.glob("plots/**/*.png")) == [
        "bars-train-bs10.png", "bars-train-bs20.png", "resnet18-roofline-train.png",
        "resnet50-roofline-train.png"]


def alternating(low_ms: float, high_ms: float, n: int = 20) -> list[float]:
    return [low_ms if i % 2 == 0 else high_ms for i in range(n)]


CROSS_SIGNIFICANCE = """\
|model    |pytorch (eager)|tensorflow (tf.function)|mxnet (hybridized)|lead (95% CI)            |
|:--------|--------------:|-----------------------:|-----------------:|------------------------:|
|ResNet-18|100.0 ± 1.9    |99.0 ± 1.8              |not run           |no significant difference|
|ResNet-34|100.0 ± 1.9    |66.7 ± 1.2              |60 [40, 250]      |no significant difference|
|ResNet-50|**100.0 ± 1.9**|66.7 ± 1.2              |not run           |1.50x                    |
"""


def test_cross_framework_bold_only_when_confidence_intervals_separate(tmp_path):
    """Bold needs the leader's CI above every other CI, not just the higher estimate."""
    tight = alternating(95.0, 105.0)                      # 100 images/s, CI about ±2%
    pts = [point(model=m, samples_ms=tight) for m in ("resnet18", "resnet34", "resnet50")]
    pts += [point("tensorflow", "script", "resnet18", samples_ms=alternating(96.0, 106.0)),
            point("tensorflow", "script", "resnet34", samples_ms=alternating(142.5, 157.5)),
            point("tensorflow", "script", "resnet50", samples_ms=alternating(142.5, 157.5)),
            # slower on average than tensorflow, but so noisy its CI reaches above pytorch's
            point("mxnet", "script", "resnet34", samples_ms=alternating(40.0, 280.0, n=10))]
    config = dict(TRAIN_CONFIG, frameworks=["pytorch", "tensorflow", "mxnet"],
                  models=["resnet18", "resnet34", "resnet50"], batches=[10])
    run = write_run(tmp_path / "significance", config, pts)
    build_report(run)
    text = (run / "train-frameworks-bs10.md").read_text()
    assert text.endswith(CROSS_SIGNIFICANCE), text


def test_training_report_page(train_run):
    md = (train_run / "index.md").read_text()
    assert "# Training: pytorch (eager)" in md and "# Training: tensorflow (tf.function)" in md
    assert "## Memory usage (MiB)" in md
    assert "optimizations: pytorch: none; tensorflow: script" in md
    assert "# Failed and skipped points" in md and "worker crashed" in md
    assert "pip install tensorflow" in md
    failures = pd.read_csv(train_run / "failures.csv")
    assert sorted(failures["status"]) == ["error", "oom", "skipped", "timeout"]
    assert "Test CPU @ 2.0GHz" in md and "node 1: CPUs 2-3,6-7" in md and "abc123" in md


def test_imprecise_points_are_flagged(train_run):
    md = (train_run / "index.md").read_text()
    section = md.split("# Precision not reached")[1].split("# Environment")[0]
    rows = [line for line in section.splitlines() if line.startswith("|train")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells[:6] == ["train", "tensorflow", "script", "ResNet-18", "10", "2"]
    assert cells[-2:] == ["±5.0%", "precision ±2.0% not reached (max-time)"]


@pytest.mark.parametrize("page", ["index.md", "index.html"])
def test_training_page_links_exist(train_run, page):
    text = (train_run / page).read_text()
    for ref in _references(text):
        if ref.startswith("data:image/png;base64,"):
            continue
        if ref.startswith("#"):          # a section of the page itself
            assert f'id="{ref[1:]}"' in text, ref
            continue
        assert (train_run / ref).is_file(), ref


def test_run_without_points_still_gets_a_page(tmp_path):
    run = write_run(tmp_path / "empty-run", INFER_CONFIG, [])
    md = build_report(run).read_text()
    assert "# dlbench report: empty-run" in md and "# Environment" in md
    assert not (run / "plots").exists() or not list((run / "plots").rglob("*.png"))


def gpu_point(monkeypatch, process_bytes: int, stream: int | None = 0x5EED) -> Measurement:
    """A resnet18 training point at batch 10 through the worker's production path
    (`run_point`, `memory_figures`), fed by a fake CUDA whose sampler reports a device-wide
    peak of 2100.2 MiB and `process_bytes` for this process (NVML)."""
    from gpu_fakes import FakeCuda, FakeRunnable, gpu_spec, run_fake_point
    FakeCuda(sampler_result={"peak_device_bytes": int(2100.2 * MIB),
                             "baseline_device_bytes": 500 * MIB,
                             "peak_process_device_bytes": process_bytes,
                             "baseline_process_device_bytes": 300 * MIB}).install(monkeypatch)
    runnable = FakeRunnable(stream, {"torch_allocated_peak_mib": 1500.4,
                                     "torch_reserved_peak_mib": 1600.0})
    m = run_fake_point(monkeypatch, runnable, gpu_spec(batch=10, task="train"))
    assert m.status == "ok", m.message
    return m


@pytest.mark.slow
def test_gpu_memory_table_uses_process_device_memory(tmp_path, monkeypatch):
    config = dict(TRAIN_CONFIG, device="cuda", frameworks=["pytorch"], models=["resnet18"],
                  batches=[10], input_size=32)
    run = write_run(tmp_path / "gpu", config, [gpu_point(monkeypatch, int(1874.6 * MIB))],
                    env=GPU_ENV)
    build_report(run)
    text = (run / "train-memory-pytorch-none.md").read_text()
    assert "- GPU: Maxwell TITAN X (12GiB Memory)\n" in text
    assert "|ResNet-18|1875         |88.7%" in text
    assert "- GPU memory: the process's peak device memory (NVML per process)" in text
    assert "- GPU timing: CUDA events on the framework's stream" in text
    assert "### Framework allocator peaks (MiB)" in text
    assert "|ResNet-18|torch allocated peak 1500, torch reserved peak 1600|" in text
    row = load_run(run).frame.iloc[0]
    assert row["device_used_mib"] == pytest.approx(2100.2) and row["memory_source"] == \
        "process device"
    # without a per-process figure (NVML reports 0 in containers), the device-wide peak,
    # and the note says so
    run2 = write_run(tmp_path / "gpu2", config, [gpu_point(monkeypatch, 0, stream=None)],
                     env=GPU_ENV)
    build_report(run2)
    text2 = (run2 / "train-memory-pytorch-none.md").read_text()
    assert "|ResNet-18|2100 " in text2
    assert "- GPU memory: the device-wide used memory: NVML could not attribute" in text2
    assert "- GPU timing: host clock around each step followed by a device synchron" in text2
    page = (run2 / "index.md").read_text()
    assert "GPU timing: host clock" in page and "GPU memory: the device-wide" in page


def test_figures_recomputed_from_samples_not_cached_summary(train_run):
    frame = load_run(train_run).frame
    row = frame[(frame["framework"] == "pytorch") & (frame["model"] == "resnet18")
                & (frame["batch_size"] == 10)].iloc[0]
    assert row["median_ms"] == pytest.approx(100.0)
    assert row["items_per_second"] == pytest.approx(100.0)
    assert row["memory_mib"] == 510


# --- inference ---------------------------------------------------------------------------

INFER_CONFIG = {"task": "infer", "frameworks": ["pytorch"], "models": ["resnet50"],
                "batches": [1, 2, 4], "optimizations": ["none", "script"], "device": "cpu",
                "dtype": "float32", "input_size": 64, "threads": [1, 2, 4],
                "mapping": "sequential", "ht": "both", "memory": "both"}


def infer_points(framework="pytorch", opts=("none", "script"), batches=(1, 2, 4),
                 threads=(1, 2, 4), memories=("local", "remote"), hts=(False, True),
                 model="resnet50") -> list[Measurement]:
    """A sweep with latency ~ batch / threads; remote 10% slower, HT 5% faster."""
    out = []
    for opt in opts:
        for bs in batches:
            for t in threads:
                for mem in memories:
                    for ht in hts:
                        ms = 20.0 * bs / t * (1.1 if mem == "remote" else 1.0) \
                            * (0.95 if ht else 1.0) * (0.8 if opt == "script" else 1.0)
                        out.append(point(framework, opt, model, bs, step_ms=ms, task="infer",
                                         threads=t, memory=mem, ht=ht, noise=0.01))
    return out


@pytest.fixture
def charts(monkeypatch) -> dict:
    """Record the charts instead of rendering them (a stub file keeps the page complete)."""
    recorded = {}

    def record(chart, path):
        recorded[path.name] = recorded[f"{path.parent.name}/{path.name}"] = chart
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG\r\n\x1a\n")

    monkeypatch.setattr(plots, "draw", record)
    return recorded


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def expected_full_plots(model: str, opts=("none", "script"), batches=(1, 2, 4)) -> set[str]:
    names = set()
    for bs in batches:
        names |= {f"{model}-latency-{bs}.png", f"{model}-throughput-{bs}.png",
                  f"{model}-latency-remote-local-{bs}.png",
                  f"{model}-throughput-remote-local-{bs}.png",
                  f"{model}-latency-ratio-{bs}.png", f"{model}-throughput-ratio-{bs}.png"}
    for opt in opts:
        names |= {f"{model}-latency-{opt}.png", f"{model}-throughput-{opt}.png",
                  f"{model}-throughput-speedup-{opt}.png", f"{model}-throughput-{opt}-perBS.png",
                  f"{model}-latency-{opt}-False.png", f"{model}-latency-{opt}-True.png",
                  f"{model}-throughput-{opt}-False.png", f"{model}-throughput-{opt}-True.png"}
    return names


@pytest.fixture(scope="module")
def infer_run(tmp_path_factory) -> Path:
    pts = infer_points() + infer_points("onnx", opts=("script",), memories=("local",),
                                        hts=(False,))
    pts.append(point("onnx", "script", "resnet50", 8, status="oom", task="infer", threads=1))
    config = dict(INFER_CONFIG, frameworks=["pytorch", "onnx"])
    run = write_run(tmp_path_factory.mktemp("infer") / "run-infer", config, pts)
    build_report(run)
    return run


@pytest.mark.slow
def test_every_plot_kind_is_drawn(infer_run):
    drawn = {p.name for p in (infer_run / "plots" / "pytorch").glob("*.png")}
    assert drawn == expected_full_plots("resnet50")
    onnx = {p.name for p in (infer_run / "plots" / "onnx").glob("*.png")}
    # onnx swept neither memory nor HT, and its bs=8 point failed: no picture for it
    assert onnx == {"resnet50-latency-1.png", "resnet50-latency-2.png", "resnet50-latency-4.png",
                    "resnet50-throughput-1.png", "resnet50-throughput-2.png",
                    "resnet50-throughput-4.png", "resnet50-latency-script.png",
                    "resnet50-throughput-script.png", "resnet50-throughput-speedup-script.png",
                    "resnet50-throughput-script-perBS.png"}
    cross = {p.name for p in (infer_run / "plots").glob("*.png")}
    assert cross == {f"resnet50-frameworks-{k}-{bs}.png" for k in ("latency", "throughput")
                     for bs in (1, 2, 4)} | {"resnet50-roofline-infer.png"} | \
        {f"bars-infer-bs{bs}.png" for bs in (1, 2, 4)}
    for path in (infer_run / "plots").rglob("*.png"):
        width, height = png_size(path)
        assert width >= 400 and height >= 300, path


def test_report_page_structure(infer_run):
    md = (infer_run / "index.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("#")]
    start = headings.index("# ResNet-50 (pytorch)")
    assert headings[start:start + 16] == [
        "# ResNet-50 (pytorch)", "# Latency (Sequential)", "## Latency Per Batch",
        "## Latency Per Optimization", "# Throughput (Sequential)", "## Throughput Per Batch",
        "## Throughput Per Optimization", "## Speedup", "## Throughput Per Batch",
        "# Latency (Remote vs Local)", "## Latency Per Batch", "## % Latency Loss Per Batch",
        "# Throughput (Remote vs Local)", "## Throughput Per Batch",
        "## % Throughput Loss Per Batch", "# ResNet-50 (onnx)"]
    assert "# ResNet-50: frameworks compared" in headings
    assert '<img src="./plots/pytorch/resnet50-latency-script-True.png" ' \
           'alt="ResNet-50 Latency Opt=SCRIPT (TorchScript), HT=True" width="100%"/>' in md
    seed_page = (infer_run / "plots" / "pytorch" / "resnet50.md").read_text()
    assert '<img src="./resnet50-throughput-speedup-none.png"' in seed_page
    assert "oom" in md and "# Environment" in md


def _references(text: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', text) + re.findall(r"\]\(([^)]+)\)", text)


@pytest.mark.parametrize("page", ["index.md", "index.html", "plots/pytorch/resnet50.md"])
def test_page_references_only_existing_files(infer_run, page):
    path = infer_run / page
    refs = _references(path.read_text())
    assert refs
    for ref in refs:
        if ref.startswith("data:image/png;base64,"):
            continue
        if ref.startswith("#"):          # a section of the page itself
            assert f'id="{ref[1:]}"' in path.read_text(), ref
            continue
        assert not re.match(r"^[a-z]+://", ref), ref        # nothing from the network
        assert (path.parent / ref).is_file(), ref


def test_html_embeds_every_picture_of_the_markdown(infer_run):
    md_pictures = re.findall(r'<img src="([^"]+)"', (infer_run / "index.md").read_text())
    html = (infer_run / "index.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == len(md_pictures) > 20
    assert "<table" in html and "<script" not in html


def test_no_plot_for_an_unswept_dimension(tmp_path, charts):
    pts = infer_points(threads=(2,), memories=("local",), hts=(False,), batches=(1, 4))
    run = write_run(tmp_path / "one-thread", INFER_CONFIG, pts)
    build_report(run)
    drawn = {p.name for p in (run / "plots").rglob("*.png")}
    # one thread count: nothing with threads on the x axis; two batch sizes: per-BS only
    # (and the overview: opts compared per batch size, GFLOP/s against batch size)
    assert drawn == {"resnet50-throughput-none-perBS.png", "resnet50-throughput-script-perBS.png",
                     "bars-infer-bs1.png", "bars-infer-bs4.png", "resnet50-roofline-infer.png"}

    single = write_run(tmp_path / "single", INFER_CONFIG,
                       infer_points(threads=(2,), memories=("local",), hts=(False,),
                                    batches=(4,)))
    build_report(single)
    # no per-framework picture; the overview still compares the opts and shows the peak
    assert not list((single / "plots").glob("*/*.png"))
    assert {p.name for p in (single / "plots").glob("*.png")} == {
        "bars-infer-bs4.png", "resnet50-roofline-infer.png"}
    assert "no picture" in (single / "index.md").read_text()


def test_remote_without_local_ok_points_draws_no_ratio(tmp_path, charts):
    pts = infer_points(opts=("none",), memories=("local",), hts=(False,))
    pts += [point("pytorch", "none", "resnet50", bs, status="error", task="infer", threads=t,
                  memory="remote") for bs in (1, 2, 4) for t in (1, 2, 4)]
    run = write_run(tmp_path / "remote-failed", INFER_CONFIG, pts)
    build_report(run)
    names = {p.name for p in (run / "plots").rglob("*.png")}
    assert not {n for n in names if "ratio" in n or "remote-local" in n}
    assert "resnet50-latency-1.png" in names and "resnet50-throughput-speedup-none.png" in names


def test_ht_only_run_uses_ht_points_and_draws_no_ht_pair(tmp_path, charts):
    pts = infer_points(opts=("none",), memories=("local",), hts=(True,))
    run = write_run(tmp_path / "ht-only", INFER_CONFIG, pts)
    build_report(run)
    names = {p.name for p in (run / "plots").rglob("*.png")}
    assert "resnet50-latency-none.png" in names
    assert not {n for n in names if n.endswith(("-True.png", "-False.png"))}
    assert "HT on" in (run / "index.md").read_text()


def test_chart_values(tmp_path, charts):
    """The numbers behind the pictures: speedup, % loss, failed points left out."""
    pts = infer_points(opts=("none",), hts=(False,), batches=(1, 2))
    pts = [m for m in pts if not (m.spec.batch_size == 2 and m.spec.threads == 4
                                  and m.spec.memory == "local")]
    pts.append(point("pytorch", "none", "resnet50", 2, status="oom", task="infer", threads=4))
    build_report(write_run(tmp_path / "values", INFER_CONFIG, pts))
    speedup = charts["resnet50-throughput-speedup-none.png"]
    assert speedup.ideal.x == [1.0, 4.0] and speedup.ideal.y == [1.0, 4.0]
    by_label = {line.label: line for line in speedup.lines}
    assert by_label["Batch=1"].x == [1.0, 2.0, 4.0]
    assert by_label["Batch=1"].y == pytest.approx([1.0, 2.0, 4.0], rel=0.03)
    assert by_label["Batch=2"].x == [1.0, 2.0]          # the oom point is left out
    loss = charts["resnet50-latency-ratio-1.png"].lines[0]
    assert loss.label == "opt=NONE (eager)" and loss.y == pytest.approx([10.0] * 3, abs=1.5)
    tp_loss = charts["resnet50-throughput-ratio-1.png"].lines[0]
    assert tp_loss.y == pytest.approx([100 * (1 - 1 / 1.1)] * 3, abs=1.5)
    latency = charts["resnet50-latency-1.png"]
    assert "BS=1" in latency.title and "median" in latency.ylabel
    assert latency.lines[0].y == pytest.approx([20.0, 10.0, 5.0], rel=0.03)


def test_plots_name_the_mode_that_ran(tmp_path, charts):
    pts = infer_points(memories=("local",), hts=(False,), batches=(1,)) + \
        infer_points("mxnet", opts=("script",), memories=("local",), hts=(False,), batches=(1,))
    config = dict(INFER_CONFIG, frameworks=["pytorch", "mxnet"])
    build_report(write_run(tmp_path / "modes", config, pts))
    cross = charts["resnet50-frameworks-throughput-1.png"]
    assert [line.label for line in cross.lines] == ["mxnet (hybridized)", "pytorch (TorchScript)",
                                                    "pytorch (eager)"]
    within = charts["pytorch/resnet50-latency-1.png"]
    assert [line.label for line in within.lines] == ["opt=NONE (eager)",
                                                     "opt=SCRIPT (TorchScript)"]
    assert [line.label for line in charts["mxnet/resnet50-latency-1.png"].lines] == \
        ["opt=SCRIPT (hybridized)"]
    assert charts["mxnet/resnet50-latency-script.png"].title.endswith("(Opt=SCRIPT (hybridized))")


def test_rebuild_removes_stale_outputs(tmp_path, charts):
    run = write_run(tmp_path / "rebuild", INFER_CONFIG,
                    infer_points(opts=("none",), memories=("local",), hts=(False,)))
    stale = run / "plots" / "pytorch" / "resnet50-latency-ratio-1.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    index = build_report(run)
    assert index == run / "index.md" and index.is_file() and (run / "index.html").is_file()
    assert not stale.exists()


def test_unreadable_folders_raise_usage_error(tmp_path):
    with pytest.raises(UsageError):
        build_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="run.json"):
        build_report(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text("{not json")
    with pytest.raises(UsageError):
        build_report(tmp_path / "bad")


# --- one truth per number: every figure from the samples, by one function ------------------

def test_error_bars_on_latency_and_throughput_lines(tmp_path, charts):
    pts = infer_points(opts=("none",), memories=("local",), hts=(False,))
    build_report(write_run(tmp_path / "bars", INFER_CONFIG, pts))
    frame = load_run(tmp_path / "bars").frame
    for name, low, high in (("resnet50-latency-1.png", "ci_low_ms", "ci_high_ms"),
                            ("resnet50-throughput-1.png", "items_per_second_ci_low",
                             "items_per_second_ci_high")):
        line = charts[name].lines[0]
        assert line.low is not None and line.high is not None, name
        assert all(lo <= y <= hi for lo, y, hi in zip(line.low, line.y, line.high))
        bs1 = frame[(frame["batch_size"] == 1) & (frame["memory"] == "local")
                    & ~frame["ht"]].sort_values("threads")
        assert line.low == pytest.approx(list(bs1[low])) and \
            line.high == pytest.approx(list(bs1[high]))
    speedup = charts["resnet50-throughput-speedup-none.png"].lines[0]
    assert speedup.low is not None and speedup.low[0] <= 1.0 <= speedup.high[0]


def test_draw_renders_error_bars_and_ci_rounded_labels(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from suite.report import plots_common
    calls, labels = [], []
    real_errorbar, real_annotate = Axes.errorbar, Axes.annotate
    monkeypatch.setattr(Axes, "errorbar", lambda ax, *a, **k: calls.append(k["yerr"])
                        or real_errorbar(ax, *a, **k))
    monkeypatch.setattr(Axes, "annotate", lambda ax, text, *a, **k: labels.append(text)
                        or real_annotate(ax, text, *a, **k))
    line = plots_common.Line("a", [1.0, 2.0], [123.456, 61.7], [119.3, 61.0], [127.5, 62.4])
    chart = plots_common.Chart("t", "s", "x", "y", [line])
    plots_common.draw(chart, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0
    assert calls and calls[0][0] == pytest.approx([4.156, 0.7])
    assert labels == ["123", "61.7"]


def test_figures_come_from_device_samples_when_present(tmp_path):
    """One rule everywhere: a GPU point's figures are its CUDA-event times, not host times."""
    m = point(model="resnet18", device="cuda", mem={"peak_device_mib": 100.0},
              samples_ms=[20.0] * 20)
    m.device_samples_ns = [10_000_000] * 20
    config = dict(TRAIN_CONFIG, device="cuda", frameworks=["pytorch"], models=["resnet18"],
                  batches=[10])
    run = write_run(tmp_path / "device", config, [m], env=GPU_ENV)
    row = load_run(run).frame.iloc[0]
    assert row["median_ms"] == 10.0 and row["items_per_second"] == 1000.0
    assert row["basis"] == "device"
    from suite.progress import describe
    assert "10.0 ms median" in describe(m) and "1000 items/s" in describe(m)


def test_console_line_shows_the_tables_figures(train_run):
    from suite.progress import describe
    from suite.storage import load_measurements
    m = next(m for m in load_measurements(train_run)
             if m.spec.model == "resnet18" and m.spec.batch_size == 10
             and m.spec.framework == "pytorch")
    line = describe(m)
    assert "100.0 ± 1.9 items/s" in line                    # as the speed table's cell
    assert "|ResNet-18 |100.0 ± 1.9  |" in (train_run / "train-speed-pytorch-none.md").read_text()
    assert "stale" not in line and "1.00 items/s" not in line   # not the cached summary


def test_precision_flag_is_judged_again_on_the_samples(tmp_path):
    """A stored flag cannot disagree with the CI shown: with the run's target known, the
    report decides from the samples (the loop's rule: median and throughput CIs)."""
    tight, loose = point(model="resnet18", spread=0.001, precise=False), \
        point(model="resnet50", spread=0.2, precise=True)
    run = write_run(tmp_path / "flags", dict(TRAIN_CONFIG, precision=0.02), [tight, loose])
    frame = load_run(run).frame.set_index("model")
    assert bool(frame.loc["resnet18", "precision_reached"]) is True
    assert bool(frame.loc["resnet50", "precision_reached"]) is False


def test_points_csv_has_every_figure_with_its_ci(train_run):
    csv = pd.read_csv(train_run / "points.csv")
    for column in ("ci_low_ms", "ci_high_ms", "p90_ci_low_ms", "p90_ci_high_ms",
                   "p99_ci_low_ms", "p99_ci_high_ms", "items_per_second_ci_low",
                   "items_per_second_ci_high", "achieved_precision", "processes", "basis"):
        assert column in csv.columns, column
    ok = csv[csv["status"] == "ok"]
    # an empty cell is an open bound: too few steps for that order statistic (stats.quantile_ci)
    assert (ok["p90_ci_low_ms"] <= ok["p90_ms"]).all()
    assert ((ok["p90_ms"] <= ok["p90_ci_high_ms"]) | ok["p90_ci_high_ms"].isna()).all()
    assert ok["p99_ci_high_ms"].isna().all()     # 99th percentile of fewer than ~300 steps


def test_throughput_is_labelled_in_the_models_items(tmp_path, charts):
    """Images/s for image models, sequences/s for text models: never "inferences"."""
    pts = infer_points(opts=("none",), memories=("local",), hts=(False,)) + \
        infer_points(opts=("none",), memories=("local",), hts=(False,), model="bert_base")
    config = dict(INFER_CONFIG, models=["resnet50", "bert_base"])
    run = write_run(tmp_path / "units", config, pts)
    build_report(run)
    labels = {name: chart.ylabel for name, chart in charts.items() if "/" not in name}
    throughput = {n: y for n, y in labels.items()
                  if "-throughput-" in n and "speedup" not in n and "ratio" not in n}
    assert {y for n, y in throughput.items() if n.startswith("resnet50-")} == \
        {"Throughput [images/s]"}
    assert {y for n, y in throughput.items() if n.startswith("bert_base-")} == \
        {"Throughput [sequences/s]"}
    md = (run / "index.md").read_text()
    assert "throughput = images/s" in md and "throughput = sequences/s" in md
    assert "inferences" not in md


def test_report_says_each_step_reuses_one_synthetic_batch(train_run):
    md = (train_run / "index.md").read_text()
    assert "every timed step reuses that same batch" in md


def test_page_says_what_the_intervals_cover(tmp_path):
    pts = [point(model="resnet18", spread=0.05)]
    single = build_report(write_run(tmp_path / "one", dict(TRAIN_CONFIG, processes=1), pts))
    assert "CIs cover step-to-step noise only" in single.read_text()
    three = build_report(write_run(tmp_path / "three", dict(TRAIN_CONFIG, processes=3), pts))
    assert "ran in 3 fresh worker processes and its CIs cover the spread" in three.read_text()


# --- several dtypes and the GPU's peak ---------------------------------------------------

def in_dtype(m: Measurement, dtype: str) -> Measurement:
    """`m` measured in another dtype."""
    import dataclasses
    return dataclasses.replace(m, spec=dataclasses.replace(m.spec, dtype=dtype))


def test_training_tables_keep_dtypes_apart_and_name_them(tmp_path):
    pts = [point(model="resnet18", step_ms=100.0), point(model="resnet18", batch_size=20),
           in_dtype(point(model="resnet18", step_ms=50.0), "bfloat16"),
           in_dtype(point(model="resnet18", batch_size=20, step_ms=40.0), "bfloat16"),
           point("tensorflow", "script", model="resnet18", step_ms=125.0)]
    config = dict(TRAIN_CONFIG, models=["resnet18"], dtypes=["float32", "bfloat16"],
                  dtype="float32,bfloat16")
    run = write_run(tmp_path / "dtypes", config, pts)
    build_report(run)
    float32 = (run / "train-speed-pytorch-none-float32.md").read_text()
    bfloat16 = (run / "train-speed-pytorch-none-bfloat16.md").read_text()
    assert float32.splitlines()[-1].split("|")[1:4] == ["ResNet-18", "100          ",
                                                        "200          "]
    assert bfloat16.splitlines()[-1].split("|")[1:4] == ["ResNet-18", "200          ",
                                                         "500          "]
    assert "precision: bfloat16" in bfloat16 and "precision: float32" in float32
    md = (run / "index.md").read_text()
    assert "# Training: pytorch (eager) float32" in md
    assert "# Training: pytorch (eager) bfloat16" in md
    # tensorflow ran float32 only, but in a run of two dtypes its label says which
    assert "# Training: tensorflow (tf.function) float32" in md
    cross = (run / "train-frameworks-bs10.md").read_text().splitlines()
    header = next(line for line in cross if line.startswith("|model"))
    assert [c.strip() for c in header.split("|")[2:5]] == [
        "pytorch (eager) float32", "pytorch (eager) bfloat16",
        "tensorflow (tf.function) float32"]


def test_a_run_of_one_other_dtype_says_it_in_headings_keeps_its_file_names(tmp_path):
    pts = [in_dtype(point(model="resnet18"), "bfloat16"),
           in_dtype(point("tensorflow", "script", model="resnet18"), "bfloat16")]
    config = dict(TRAIN_CONFIG, models=["resnet18"], batches=[10], dtype="bfloat16")
    run = write_run(tmp_path / "bf16", config, pts)   # an older run.json: one "dtype"
    build_report(run)
    assert (run / "train-speed-pytorch-none.md").is_file()
    md = (run / "index.md").read_text()
    assert "# Training: pytorch (eager) bfloat16" in md
    cross = (run / "train-frameworks-bs10.md").read_text()
    assert "pytorch (eager) bfloat16" in cross and "tensorflow (tf.function) bfloat16" in cross
    f32 = write_run(tmp_path / "f32", dict(TRAIN_CONFIG, models=["resnet18"], batches=[10]),
                    [point(model="resnet18")])
    build_report(f32)
    assert "# Training: pytorch (eager)\n" in (f32 / "index.md").read_text()


def test_inference_lines_of_several_dtypes_are_apart_and_labelled(tmp_path, charts):
    f32 = infer_points(opts=("none",), memories=("local",), hts=(False,), batches=(1,))
    bf16 = [in_dtype(m, "bfloat16") for m in f32]
    onnx = infer_points("onnx", opts=("script",), memories=("local",), hts=(False,),
                        batches=(1,))
    config = dict(INFER_CONFIG, frameworks=["pytorch", "onnx"], dtypes=["float32", "bfloat16"],
                  dtype="float32,bfloat16")
    build_report(write_run(tmp_path / "dtypes", config, f32 + bf16 + onnx))
    within = charts["pytorch/resnet50-latency-1.png"]
    assert [line.label for line in within.lines] == ["opt=NONE (eager) bfloat16",
                                                     "opt=NONE (eager) float32"]
    assert "float32" not in within.subtitle          # the lines say it, not the subtitle
    assert "pytorch/resnet50-latency-none-bfloat16.png" in charts
    assert "pytorch/resnet50-latency-none-float32.png" in charts
    assert "pytorch/resnet50-latency-none.png" not in charts     # never both in one line
    cross = charts["resnet50-frameworks-throughput-1.png"]
    assert sorted(line.label for line in cross.lines) == [
        "onnx (ORT optimized) float32", "pytorch (eager) bfloat16", "pytorch (eager) float32"]


GPU_PEAK_ENV = dict(GPU_ENV, peak={
    "kind": "gpu", "device_name": "Maxwell TITAN X", "device_index": 0, "library": "torch",
    "method": "test", "gflops_by_dtype": {"float32": 6000.0, "tf32": 8000.0,
                                          "bfloat16": 20000.0}})


def test_gpu_points_get_the_percent_of_their_dtypes_peak(tmp_path):
    pts = [point(model="resnet18", device="cuda", mem={"peak_device_mib": 100.0}),
           in_dtype(point(model="resnet18", device="cuda", batch_size=20,
                          mem={"peak_device_mib": 100.0}), "bfloat16")]
    run = write_run(tmp_path / "gpu", dict(TRAIN_CONFIG, device="cuda", models=["resnet18"],
                                           dtypes=["float32", "bfloat16"]), pts, GPU_PEAK_ENV)
    build_report(run)
    points = pd.read_csv(run / "points.csv").set_index("dtype")
    # 100 images/s x 1 GFLOP: 100 GFLOP/s of TF32's 8000; 200 of bfloat16's 20000
    assert points.loc["float32", "peak_gflops_per_second"] == 8000.0
    assert points.loc["float32", "percent_of_peak"] == pytest.approx(1.25)
    assert points.loc["float32", "peak_basis"] == "the TF32 tensor-core peak"
    assert points.loc["bfloat16", "percent_of_peak"] == pytest.approx(1.0)
    assert points.loc["bfloat16", "peak_basis"] == "the bfloat16 tensor-core peak"
