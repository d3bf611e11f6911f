"""Memory that counts only the framework (CONTRACT §7): no harness-owned copies of the
weights after build."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import ir_numpy
from adapter_helpers import adapter_or_skip
from frameworks.base import BuildRequest

# Every optimization but torch.compile (inductor takes minutes; it wraps the eager module).
BUILDS = [("pytorch", "infer", "none"), ("pytorch", "infer", "script"),
          ("pytorch", "train", "none"), ("pytorch", "train", "script"),
          ("tensorflow", "infer", "none"), ("tensorflow", "infer", "script"),
          ("tensorflow", "train", "script"), ("mxnet", "infer", "none"),
          ("mxnet", "infer", "script"), ("mxnet", "train", "script"),
          ("onnx", "infer", "none"), ("onnx", "infer", "script")]


@pytest.mark.parametrize("framework,task,opt", BUILDS)
def test_weights_die_after_build(framework, task, opt):
    """Once the caller drops the request, no weight array survives: the runnable holds
    the framework's own copies only."""
    adapter = adapter_or_skip(framework)
    model = ir_numpy.image_graph()
    weights = ir_numpy.random_weights(model)
    refs = [weakref.ref(w) for w in weights.values()]
    request = BuildRequest(model, weights, task, opt, 2)
    runnable = adapter.build(request)
    runnable.set_inputs(ir_numpy.random_inputs(model, 2), np.array([1, 3]) if task == "train" else None)
    runnable.step()
    runnable.synchronize()
    del weights, request
    gc.collect()
    alive = sum(r() is not None for r in refs)
    assert alive == 0, f"{alive} of {len(refs)} weight arrays still alive"
    runnable.step()  # the runnable still works without them
    runnable.synchronize()


def test_torchscript_inference_keeps_one_copy_of_the_weights():
    """The frozen module holds its own (folded) weights: no eager Parameter stays alive."""
    adapter = adapter_or_skip("pytorch")
    import torch

    def live_parameters() -> int:
        gc.collect()
        return sum(isinstance(o, torch.nn.Parameter) for o in gc.get_objects())

    model = ir_numpy.image_graph()
    before = live_parameters()
    eager = adapter.build(BuildRequest(model, ir_numpy.random_weights(model), "infer", "none", 2))
    assert live_parameters() > before   # the check can fail
    del eager
    frozen = adapter.build(BuildRequest(model, ir_numpy.random_weights(model), "infer",
                                        "script", 2))
    assert live_parameters() == before
    assert frozen.param_count() == model.param_count()
