"""The GPU paths of the worker and the timers, without a GPU (a fake `suite._native`).

Events go on the framework's stream or nowhere (never stream 0), throughput comes from
windows of overlapping steps, and a CUDA point's memory is the process's own device memory.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gpu_fakes import MIB, FakeCuda, FakeRunnable, gpu_spec, run_fake_point
from suite import stats
from suite.timing import CudaEventTimer

STREAM = 0x5EED


def test_a_framework_without_a_stream_never_gets_stream_0_events(monkeypatch):
    """TensorFlow, MXNet: their streams are non-blocking, so events on stream 0 would not
    be ordered with their work. They are timed by the host around step + synchronise."""
    cuda = FakeCuda().install(monkeypatch)
    runnable = FakeRunnable(stream=None)
    m = run_fake_point(monkeypatch, runnable, gpu_spec("tensorflow"))
    assert m.status == "ok", m.message
    assert cuda.event_streams == [] and cuda.windows == []     # no event anywhere
    assert m.meta["device_timing"] == "host-sync"
    assert m.device_samples_ns is None and m.window_ns is None
    assert runnable.syncs == runnable.steps            # a synchronisation in every step
    assert stats.point_summary(m).basis == "host"


def test_a_framework_with_a_stream_gets_events_on_it(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    m = run_fake_point(monkeypatch, FakeRunnable(stream=STREAM))
    assert m.status == "ok", m.message
    assert cuda.event_streams and set(cuda.event_streams) == {STREAM}
    assert m.meta["device_timing"] == "cuda-events"
    assert len(m.device_samples_ns) == len(m.samples_ns) == sum(m.window_steps)


def test_a_runnable_that_gives_stream_0_fails_instead_of_falling_back(monkeypatch):
    """PyTorch once gave its default stream's handle, 0: the point was quietly timed by
    the host with a synchronisation per step. Stream 0 is now an error that says so."""
    cuda = FakeCuda().install(monkeypatch)
    m = run_fake_point(monkeypatch, FakeRunnable(stream=0))
    assert m.status == "error" and "stream 0" in m.message
    assert cuda.event_streams == []


def test_the_event_timer_refuses_stream_0(monkeypatch):
    FakeCuda().install(monkeypatch)
    with pytest.raises(ValueError, match="stream 0"):
        CudaEventTimer(0, lambda: None)


def test_gpu_throughput_comes_from_windows_of_overlapping_steps(monkeypatch):
    """Steps take 2 ms each on the device but overlap: a window of n steps lasts n x 1.5 ms.
    Throughput is Σ items / Σ window time, latency the per-step events."""
    cuda = FakeCuda(step_device_ns=2_000_000, step_wall_ns=1_500_000).install(monkeypatch)
    m = run_fake_point(monkeypatch, FakeRunnable(stream=STREAM), gpu_spec(batch=8))
    s = stats.point_summary(m)
    assert s.median_ms == 2.0 and s.basis == "device"
    assert s.items_per_second == pytest.approx(8 / 1.5e-3)
    assert s.windows == len(m.window_ns) >= 2
    assert s.total_time_s == pytest.approx(sum(m.window_ns) / 1e9)
    # one synchronisation per window, not per step: the timed windows hold several steps
    assert max(m.window_steps) > 1 and len(cuda.windows) < sum(cuda.windows)


def test_windows_last_long_enough_and_stop_at_the_budget(monkeypatch):
    FakeCuda(step_wall_ns=1_000_000).install(monkeypatch)
    timer = CudaEventTimer(STREAM, lambda: None, window_min_ns=10_000_000)
    first = timer.run(lambda: None, 4)                 # no step time known yet: one window
    assert list(first.window_steps) == [4]
    timed = timer.run(lambda: None, 100, budget_ns=25_000_000)
    assert set(timed.window_steps) == {10}             # 10 x 1 ms reach the 10 ms minimum
    assert timed.wall_ns() == 30_000_000               # stopped at the first window past it
    assert len(timed.host_ns) == len(timed.device_ns) == 30


def test_window_throughput_ci_brackets_the_ratio_and_cpu_figures_are_unchanged():
    samples = [1_000_000 + 1000 * (i % 7) for i in range(60)]
    plain = stats.summarize(samples, 4)
    assert stats.summarize(samples, 4, windows=None) == plain
    assert plain.windows == 0
    windows = ([10_000_000 + 50_000 * (i % 3) for i in range(6)], [10] * 6)
    s = stats.summarize(samples, 4, windows=windows)
    ratio_ns = sum(windows[0]) / 60
    assert s.items_per_second == pytest.approx(4e9 / ratio_ns)
    assert s.items_per_second_ci_low < s.items_per_second < s.items_per_second_ci_high
    assert s.median_ms == plain.median_ms                # latency: the per-step samples
    # windows that do not cover the samples are ignored rather than misread
    assert stats.summarize(samples, 4, windows=([1], [3])) == plain


def test_window_ci_covers_the_spread_between_processes():
    jitter = 0.05 * (-1.0) ** np.arange(20)
    w = np.concatenate([10.0 + jitter, 10.6 + jitter]) * 1e7        # 10 steps a window
    n = np.full(40, 10)
    alone = stats.window_time_ci(w, n)
    split = stats.window_time_ci(w, n, samples_per_process=[200, 200])
    assert split[0] < alone[0] < alone[1] < split[1]
    assert stats.window_time_ci(w, n, samples_per_process=[205, 195]) == alone  # misaligned


def test_cuda_point_memory_is_the_process_device_memory(monkeypatch):
    """The sampler's per-process figure (NVML) becomes process_device_mib, its peak; the
    device-wide figure stays beside it; the allocator's peaks are kept too."""
    FakeCuda(sampler_result={
        "peak_device_bytes": 2100 * MIB, "baseline_device_bytes": 600 * MIB,
        "peak_process_device_bytes": 1875 * MIB,
        "baseline_process_device_bytes": 400 * MIB}).install(monkeypatch)
    m = run_fake_point(monkeypatch, FakeRunnable(STREAM, {"torch_allocated_peak_mib": 1500.0}))
    assert m.memory["process_device_mib"] == 1875.0
    assert m.memory["baseline_process_device_mib"] == 400.0
    assert m.memory["peak_device_mib"] == 2100.0
    assert m.memory["framework_torch_allocated_peak_mib"] == 1500.0


def test_no_process_figure_where_nvml_cannot_attribute_memory(monkeypatch):
    """NVML reports 0 for a process it cannot find (a container's PID namespace)."""
    FakeCuda(sampler_result={"peak_device_bytes": 2100 * MIB,
                             "baseline_device_bytes": 600 * MIB,
                             "peak_process_device_bytes": 0,
                             "baseline_process_device_bytes": 0}).install(monkeypatch)
    m = run_fake_point(monkeypatch, FakeRunnable(STREAM))
    assert "process_device_mib" not in m.memory and m.memory["peak_device_mib"] == 2100.0


def test_tensorflow_memory_growth_is_set_for_every_gpu(monkeypatch):
    """Without it TF reserves nearly the whole GPU when it starts."""
    from types import SimpleNamespace

    from frameworks import tensorflow_keras
    grown = []
    experimental = SimpleNamespace(set_memory_growth=lambda gpu, on: grown.append((gpu, on)))
    threading = SimpleNamespace(set_intra_op_parallelism_threads=lambda n: None,
                                set_inter_op_parallelism_threads=lambda n: None)
    config = SimpleNamespace(list_physical_devices=lambda kind: ["gpu0", "gpu1"],
                             experimental=experimental, threading=threading)
    monkeypatch.setattr(tensorflow_keras, "_import_tf", lambda: SimpleNamespace(config=config))
    tensorflow_keras.TensorFlowAdapter().configure_threads(2, 1)
    assert grown == [("gpu0", True), ("gpu1", True)]


# --- the runner: device availability from the worker, no framework in the parent ----------

# Run in this process and, for the import check, as a fresh interpreter's script: CUDA
# faked available, workers faked by one whose framework sees only the CPU.
CUDA_SWEEP_SCRIPT = '''
from suite import _native, commands, runner
from suite.cli import build_parser
from suite.sweep import expand
from suite.topology import read_topology


class FakeWorker:
    """A worker whose framework imports fine but sees no GPU."""

    started = 0

    def __init__(self, init, log_path, opts, module="suite.worker"):
        FakeWorker.started += 1

    def receive(self, timeout_s):
        return {"ready": {"ok": True, "version": "9.9", "reason": "", "install": "",
                          "devices": ["cpu"], "device_reason": "sees no GPU (CPU-only build)",
                          "placement": {}, "pid": 1}}

    def close(self, kill=False):
        pass


class Quiet:
    def start(self, total, resumed): ...
    def point_started(self, spec): ...
    def point_finished(self, m): ...
    def finish(self, measurements, run_dir): ...


def run_cuda_sweep(run_dir, patch=setattr):
    """Plan and run a --device cuda sweep of every framework as run_sweep does."""
    patch(_native, "cuda_available", lambda: True)
    patch(runner, "Worker", FakeWorker)
    topo = read_topology()
    args = build_parser().parse_args([
        "infer", "--device", "cuda", "--frameworks", "pytorch,mxnet,tensorflow,onnx",
        "--models", "resnet18", "--batches", "1,2", "--threads", "1", "--no-control"])
    cfg = commands.resolve(args, topo)
    specs = expand(cfg, commands.input_sizes(cfg))
    opts = runner.RunOptions(settings={}, worker_per_point=True)
    done = runner.Runner(run_dir, topo, opts, Quiet(),
                         lambda s: commands.unsupported_reason(s, topo)).run(specs)
    return done, FakeWorker.started
'''


def test_cuda_points_without_a_device_are_skipped_with_the_workers_reason(tmp_path,
                                                                         monkeypatch):
    scope: dict = {}
    exec(CUDA_SWEEP_SCRIPT, scope)
    done, started = scope["run_cuda_sweep"](tmp_path, monkeypatch.setattr)
    assert len(done) == 8 and {m.status for m in done} == {"skipped"}
    assert started == 4          # one worker per framework says so; its other point follows
    by_fw = {m.spec.framework: m.message for m in done}
    assert by_fw["tensorflow"] == ("tensorflow has no cuda device here: sees no GPU "
                                   "(CPU-only build) (devices found: cpu)")


def test_a_cuda_sweep_imports_no_framework_in_the_runner(tmp_path):
    """Planning and running a --device cuda sweep asks no adapter's availability() in the
    parent: device availability comes from each worker's ready message."""
    code = CUDA_SWEEP_SCRIPT + "\n".join([
        "import sys",
        "from pathlib import Path",
        "done, started = run_cuda_sweep(Path(sys.argv[1]))",
        "print(sorted({m.status for m in done}), started)",
        "heavy = ('torch', 'tensorflow', 'keras', 'mxnet', 'onnx', 'onnxruntime', 'jax')",
        "print(sorted(m for m in heavy if m in sys.modules))",
    ])
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["['skipped'] 4", "[]"]


def test_processes_keep_their_windows(monkeypatch):
    """--processes N: the windows of every process, in order, still cover the samples."""
    from suite.spec import combine_processes
    FakeCuda().install(monkeypatch)
    parts = [run_fake_point(monkeypatch, FakeRunnable(STREAM)) for _ in range(2)]
    m = combine_processes(parts)
    assert m.window_ns == parts[0].window_ns + parts[1].window_ns
    assert sum(m.window_steps) == len(m.device_samples_ns) == sum(m.samples_per_process)
    assert stats.point_summary(m).windows == len(m.window_ns)


def test_the_sampler_interval_is_10_ms_on_a_gpu_unless_told():
    """1 ms took the driver's lock a thousand times a second during launch-bound steps."""
    from suite.worker import sampler_interval_us
    assert sampler_interval_us({}, cuda=True, kernel_peak=True) == 10_000
    assert sampler_interval_us({}, cuda=False, kernel_peak=True) == 100_000
    assert sampler_interval_us({}, cuda=False, kernel_peak=False) == 1000
    assert sampler_interval_us({"sampler_interval_us": 500}, cuda=True, kernel_peak=True) == 500
