"""What the ranks of the data-parallel equivalence test run (importable by spawned ranks)."""
from __future__ import annotations

import numpy as np

from frameworks import get_adapter, pytorch_ddp
from frameworks.base import BuildRequest
from suite.models import weights as weights_module
from suite.models import zoo

HYPER = dict(lr=0.01, momentum=0.9, weight_decay=1e-4)


def problem(model_name: str, size: int, batch: int):
    """Weights, a batch of `batch` inputs and labels, all from fixed seeds."""
    model = zoo.get_model(model_name, size)
    weights = weights_module.make_weights(model, 0)
    rng = np.random.default_rng(7)
    spec = model.inputs[0]
    inputs = rng.standard_normal((batch, *spec.shape), dtype=np.float32)
    labels = rng.integers(0, model.num_classes, size=batch, dtype=np.int64)
    return model, weights, spec.name, inputs, labels


def one_step(model_name: str, size: int, batch: int, world: int = 1,
             rank: int = 0, group=None):
    """One SGD step of pytorch on this rank's share of a batch of `batch` x `world`
    (dropout off); returns the rank's loss and the parameters after the step."""
    model, weights, name, inputs, labels = problem(model_name, size, batch * world)
    runnable = get_adapter("pytorch").build(BuildRequest(
        model, weights, "train", "none", batch, dropout=False, **HYPER))
    if group is not None:
        pytorch_ddp.wrap(runnable, group)
    share = slice(rank * batch, (rank + 1) * batch)
    runnable.set_inputs({name: inputs[share]}, labels[share])
    runnable.step()
    runnable.synchronize()
    return float(runnable.result()), runnable.parameters()


def ddp_rank_step(model_name: str, size: int, batch: int):
    """A rank of the test: joins the group (env:// from the launcher), one DDP step on its
    share; rank 0 returns every rank's loss and its parameters after the step."""
    import torch
    torch.set_num_threads(1)
    group = pytorch_ddp.join("cpu", 120)
    try:
        loss, params = one_step(model_name, size, batch, group.world_size, group.rank, group)
        losses = group.gather(loss)
    finally:
        group.close()
    return None if losses is None else (losses, params)
