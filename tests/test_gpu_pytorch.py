"""The PyTorch adapter on a real GPU, through the worker's production path (skipped
without CUDA). The fakes of tests/gpu_fakes.py cannot tell whether the adapter really
gives a stream of its own: these tests can."""
from __future__ import annotations

import numpy as np
import pytest

from suite import _native
from suite.spec import PointSpec

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not (torch.cuda.is_available() and _native.cuda_available()),
                                 reason="no CUDA device (torch or the native driver sees none)")]

SETTINGS = {"loop": {"precision": 0.05, "min_time_s": 0.2, "max_time_s": 1.0,
                     "min_iterations": 10, "warmup_max_s": 2.0},
            "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "energy_idle_s": 0.0}


def _point(task: str, optimization: str = "none", dtype: str = "float32"):
    from frameworks import get_adapter
    from suite.worker import run_point
    spec = PointSpec(task, "pytorch", optimization, "resnet18", 8, 64, device="cuda",
                     dtype=dtype)
    return run_point(get_adapter("pytorch"), spec, SETTINGS)


@pytest.mark.parametrize("task", ["infer", "train"])
def test_pytorch_points_are_timed_by_events_on_their_own_stream(task):
    m = _point(task)
    assert m.status == "ok", m.message
    assert m.meta["device_timing"] == "cuda-events"
    device = np.asarray(m.device_samples_ns)
    assert len(device) == len(m.samples_ns) == sum(m.window_steps)
    assert (device > 0).all()
    # events bracket the work: a step's device time is not its (asynchronous) launch alone
    assert np.median(device) > 0.2 * np.median(m.samples_ns)
    assert m.memory["framework_torch_allocated_peak_mib"] > 0


def test_the_stream_is_the_runnables_own_and_results_are_complete():
    from frameworks import get_adapter
    from frameworks.base import BuildRequest
    from suite.models import zoo
    from suite.models.weights import make_weights
    from suite.worker import synthetic_inputs
    model = zoo.get_model("resnet18", 64)
    weights = make_weights(model, 0)
    inputs, _ = synthetic_inputs(model, 4, 0)
    outs = {}
    for device in ("cpu", "cuda"):
        r = get_adapter("pytorch").build(BuildRequest(model, weights, "infer", "none", 4,
                                                      device=device))
        r.set_inputs(inputs)
        r.step()
        outs[device] = r.result()   # result() waits for the runnable's stream
        if device == "cuda":
            handle = r.stream_handle()
            assert handle not in (None, 0)
            assert handle != torch.cuda.current_stream().cuda_stream
    scale = np.abs(outs["cpu"]).max()
    assert np.abs(outs["cuda"] - outs["cpu"]).max() <= 2e-2 * scale   # TF32 convolutions


def test_close_hands_the_cached_device_memory_back():
    """A shared worker's next point must not count this one's cached blocks: after the
    first point (which creates the process's cuBLAS workspace for its stream, kept for the
    life of the process), every closed point leaves the allocator where it found it."""
    import gc
    from frameworks import get_adapter
    from frameworks.base import BuildRequest
    from suite.models import zoo
    from suite.models.weights import make_weights
    from suite.worker import synthetic_inputs
    model = zoo.get_model("resnet18", 64)
    weights = make_weights(model, 0)
    inputs, labels = synthetic_inputs(model, 16, 0)
    figures = []
    for _ in range(3):
        gc.collect()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
        r = get_adapter("pytorch").build(BuildRequest(model, weights, "train", "none", 16,
                                                      device="cuda"))
        r.set_inputs(inputs, labels)
        r.step()
        r.synchronize()
        assert torch.cuda.memory_reserved() > before[1] + 40 * 2**20   # weights, grads, ...
        r.close()
        figures.append((before, (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())))
    for before, after in figures[1:]:
        assert after[0] <= before[0] + 2**20 and after[1] <= before[1] + 2**20, figures
