"""Which peak each point is divided by (suite.peak.point_peak_gflops), everywhere a % of
peak shows: the report's frame, the console line, and the thread counts a sweep measures."""
import numpy as np
import pytest

from suite.peak import cpu_dtype_flags, peak_text, point_peak_gflops
from suite.report.frames import measurements_frame, with_peak
from suite.spec import Measurement, PointSpec
from suite.topology import Core, Topology

CPU_PEAK = {"kind": "cpu", "gflops_by_threads": {"1": 100.0, "2": 180.0, "4": 300.0},
            "method": "test", "cpu_flags": []}
CPU_PEAK_AMX = dict(CPU_PEAK, cpu_flags=["avx512_bf16", "amx_bf16"])
GPU_PEAK = {"kind": "gpu", "device_name": "NVIDIA H200", "device_index": 0,
            "library": "torch 2.11.0", "method": "test",
            "gflops_by_dtype": {"float32": 50_000.0, "tf32": 400_000.0,
                                "bfloat16": 800_000.0, "float16": 810_000.0}}


def spec(device="cpu", dtype="float32", threads=1, nproc=1, nnodes=1) -> PointSpec:
    return PointSpec("train", "pytorch", "none", "resnet18", 4, 32, device=device,
                     dtype=dtype, threads=threads, nproc_per_node=nproc, nnodes=nnodes)


def point(s: PointSpec, step_ms: float = 100.0) -> Measurement:
    """batch 4 at `step_ms` ms per step, 1 GFLOP per item: 40 GFLOP/s at 100 ms per step
    (x the world size for a data-parallel point: every rank's items count)."""
    return Measurement(s, samples_ns=[int(step_ms * 1e6)] * 20,
                       items_per_step=s.batch_size * s.world_size, flops_per_item=1e9,
                       memory={"peak_rss_mib": 100.0}, precision_reached=True)


def test_a_data_parallel_cpu_point_is_divided_by_the_peak_at_threads_x_ranks():
    assert point_peak_gflops(CPU_PEAK, spec(threads=1, nproc=2)) == \
        (180.0, "the float32 FMA limit at 2 threads")
    assert point_peak_gflops(CPU_PEAK, spec(threads=2, nproc=2)).gflops == 300.0
    # several nodes: every node's ranks count, each node as fast as this one
    assert point_peak_gflops(CPU_PEAK, spec(threads=1, nproc=2, nnodes=2)) == \
        (360.0, "the float32 FMA limit at 2 threads x 2 nodes")
    assert point_peak_gflops(CPU_PEAK, spec(threads=1)) == \
        (100.0, "the float32 FMA limit at 1 thread")
    assert point_peak_gflops(CPU_PEAK, spec(threads=3, nproc=2)) == \
        (None, "no peak measured at 6 threads")


def test_a_data_parallel_points_percent_counts_every_ranks_peak():
    # 2 ranks x 1 thread, 80 GFLOP/s over both ranks: 44% of the 2-thread peak (180),
    # not 80% of one rank's 1-thread peak
    frame = with_peak(measurements_frame([point(spec(threads=1, nproc=2))]), CPU_PEAK)
    assert frame["gflops_per_second"].iloc[0] == pytest.approx(80.0)
    assert frame["peak_gflops_per_second"].iloc[0] == 180.0
    assert frame["percent_of_peak"].iloc[0] == pytest.approx(100 * 80 / 180)


def test_a_bfloat16_cpu_point_gets_no_percent_and_the_reason():
    lacks = point_peak_gflops(CPU_PEAK, spec(dtype="bfloat16"))
    assert lacks == (None, "no bfloat16 peak: this CPU lacks avx512_bf16/AMX")
    has = point_peak_gflops(CPU_PEAK_AMX, spec(dtype="bfloat16"))
    assert has.gflops is None and has.basis.startswith("no bfloat16 peak: this CPU has "
                                                       "avx512_bf16/AMX")
    assert point_peak_gflops(CPU_PEAK, spec(dtype="float16")).basis == \
        "no float16 peak: this CPU lacks avx512_fp16/AMX"
    older = {"gflops_by_threads": {"1": 100.0}}            # a run from before cpu_flags
    assert point_peak_gflops(older, spec(dtype="bfloat16")).basis.startswith(
        "no bfloat16 peak measured")
    frame = with_peak(measurements_frame([point(spec(dtype="bfloat16"))]), CPU_PEAK)
    assert frame["gflops_per_second"].iloc[0] == pytest.approx(40.0)
    assert np.isnan(frame["percent_of_peak"].iloc[0])
    assert np.isnan(frame["peak_gflops_per_second"].iloc[0])
    assert frame["peak_basis"].iloc[0] == "no bfloat16 peak: this CPU lacks avx512_bf16/AMX"


def test_cuda_points_are_divided_by_the_gpu_peak_of_their_dtype():
    assert point_peak_gflops(GPU_PEAK, spec("cuda", "bfloat16")) == \
        (800_000.0, "the bfloat16 tensor-core peak")
    assert point_peak_gflops(GPU_PEAK, spec("cuda", "float16")).gflops == 810_000.0
    # float32: cuDNN's convolutions run on TF32 tensor cores by default, so the honest
    # bound is TF32's, never the strict float32 figure (which they would exceed)
    assert point_peak_gflops(GPU_PEAK, spec("cuda", "float32")) == \
        (400_000.0, "the TF32 tensor-core peak")
    # data-parallel: one GPU per rank
    assert point_peak_gflops(GPU_PEAK, spec("cuda", "bfloat16", nproc=4)) == \
        (3_200_000.0, "the bfloat16 tensor-core peak x 4 GPUs")
    # 400 ms per step of 4 items at 1 TFLOP each: 10 TFLOP/s, 1.25% of the bfloat16 peak
    frame = with_peak(measurements_frame([point(spec("cuda", "bfloat16"), 0.4)]), GPU_PEAK)
    assert frame["percent_of_peak"].iloc[0] == pytest.approx(100 * 10_000 / 800_000)


def test_cuda_points_without_their_gpu_peak_say_why():
    failed = {"kind": "gpu", "gflops_by_dtype": {}, "error": "CUDA not available: no driver"}
    assert point_peak_gflops(failed, spec("cuda", "bfloat16")) == \
        (None, "no bfloat16 tensor-core peak: CUDA not available: no driver")
    cupy = dict(GPU_PEAK, gflops_by_dtype={"float32": 50_000.0, "float16": 810_000.0},
                errors={"tf32": "not measured through cupy"})
    assert point_peak_gflops(cupy, spec("cuda", "float32")) == \
        (None, "no TF32 tensor-core peak: not measured through cupy")
    assert point_peak_gflops(CPU_PEAK, spec("cuda")) == (None, "no GPU peak measured")
    assert point_peak_gflops(None, spec("cuda")) == (None, "no GPU peak measured")
    assert point_peak_gflops(GPU_PEAK, spec("cpu")).gflops is None


def test_console_line_names_the_peak_or_why_there_is_none():
    from suite.progress import describe
    gpu = describe(point(spec("cuda", "float32"), 0.4), GPU_PEAK)
    assert ", 10000 GFLOP/s (2.5% of the TF32 tensor-core peak), " in gpu
    assert "(no bfloat16 peak: this CPU lacks avx512_bf16/AMX)" in \
        describe(point(spec(dtype="bfloat16")), CPU_PEAK)
    assert " bfloat16: " in describe(point(spec(dtype="bfloat16")), CPU_PEAK)   # the label
    assert ", 80.0 GFLOP/s (44% of peak), " in describe(point(spec(nproc=2)), CPU_PEAK)


def test_cpu_flags_for_other_dtypes_come_from_cpuinfo():
    info = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
    assert cpu_dtype_flags(info) == ["avx512_bf16", "amx_bf16"]
    assert cpu_dtype_flags("flags : fpu avx2 fma\n") == []
    assert cpu_dtype_flags("") == []


def test_peak_text_reads_a_gpu_peak():
    assert peak_text(GPU_PEAK) == ("NVIDIA H200: strict float32 50, TF32 400, bfloat16 800, "
                                   "float16 810 TFLOP/s")
    assert peak_text({"kind": "gpu", "gflops_by_dtype": {}, "error": "no CUDA"}) == \
        "not measured: no CUDA"


def machine(cores: int) -> Topology:
    """One NUMA node of `cores` physical cores, no hyper-threads."""
    return Topology([Core(0, c, 0, (c,)) for c in range(cores)], {0: list(range(cores))})


def test_the_sweep_measures_the_peak_at_threads_x_ranks():
    from suite.cost import peak_thread_counts
    from suite.sweep import SweepConfig
    cfg = SweepConfig("train", ["pytorch"], ["resnet18"], [4], {"pytorch": ["none"]},
                      threads=[1, 2], nproc_per_node=[1, 2])
    assert peak_thread_counts(cfg, machine(4)) == [1, 2, 4]
    assert peak_thread_counts(cfg, machine(3)) == [1, 2]     # 4 is beyond 3 cores
    cfg.threads, cfg.nproc_per_node = [1], [1]
    assert peak_thread_counts(cfg, machine(3)) == [1]
