"""Helpers for tests of the modern zoo networks and the ONNX importer: weights whose batch
norms are calibrated (so deep outputs depend on the input), and an ONNX export of a
description through PyTorch (the zoo's own torch network, nothing downloaded)."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from suite.models.ir import Model


def calibrated_weights(model: Model, weights: dict[str, np.ndarray], items: int = 8,
                       seed: int = 7) -> dict[str, np.ndarray]:
    """`weights` with every batch norm's running mean and variance set to the statistics of
    one random batch (one training step with momentum 1).

    Calibrated statistics normalise every batch norm's input, so the deep mobile networks'
    outputs depend on the input strongly and an equivalence check compares well-scaled
    numbers (make_weights' random statistics once left EfficientNet-B0's logits almost
    constant, a relative spread of 1e-6; its gains now keep 0.14, docs/models.md)."""
    import torch
    from frameworks._torch_graph import TorchNet
    net = TorchNet(model, weights, "cpu", dropout=False)
    module = net.module.train()
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    shape = (items,) + model.inputs[0].shape
    with torch.no_grad():
        module(torch.tensor(np.random.default_rng(seed).standard_normal(shape, np.float32)))
    out = dict(weights)
    for node in model.nodes:
        if node.op == "batchnorm":
            bn, _ = net.slots[f"{node.name}.gamma"]
            out[f"{node.name}.mean"] = bn.running_mean.numpy().copy()
            out[f"{node.name}.var"] = bn.running_var.numpy().copy()
    return out


def export_onnx(model: Model, weights: dict[str, np.ndarray], path: str,
                batch: int | None = None, opset: int = 17) -> Any:
    """Export the zoo's torch network for `model` to `path` with torch.onnx's TorchScript
    exporter: batch norms kept (TrainingMode.PRESERVE on an eval-mode module, so they are
    not folded into the convs), input "input", output "logits", a symbolic batch "N" unless
    `batch` fixes it. Returns the torch module (eval mode)."""
    import torch
    from frameworks._torch_graph import TorchNet
    module = TorchNet(model, weights, "cpu").module.eval()
    example = torch.zeros((batch or 2,) + model.inputs[0].shape)
    dynamic = None if batch else {"input": {0: "N"}, "logits": {0: "N"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), path, dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes=dynamic, training=torch.onnx.TrainingMode.PRESERVE)
    return module
