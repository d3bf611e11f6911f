"""Analytic cost of a model: multiply-adds (MACs) per item and parameter counts.

Counted, per item, forward pass only (training is 3x this, see the point spec):

- ``conv``: output elements x (input channels / groups) x kernel height x kernel width
  (a depthwise conv, groups = channels, is kh x kw per output element; the 1x1 convs of a
  squeeze-excitation count like any conv);
- ``dense``: rows x input features x units (rows = every leading axis, e.g. S tokens);
- ``attention``: the four H x H projections over S tokens (4 S H^2) plus the two
  attention matmuls Q K^T and softmax(.) V (2 S^2 H).

Not counted, as in the published figures we compare with (torchvision's "GFLOPS" column,
the ResNet/VGG/Inception papers, BERT's usual 2 x 11.2 GFLOPs at 128 tokens): bias adds,
batch norm, layer norm, activations, pooling, LRN, softmax, residual adds, embedding lookups
and dropout, nor the mobile CNNs' elementwise and data-movement ops (clip, sigmoid,
hardsigmoid, hardswish, silu, the squeeze-excitation's broadcast mul, pad, channel_shuffle,
slice), as torchvision's figures for MobileNet, EfficientNet and ShuffleNet do not. Those
are memory-bound, about one operation per output element: their output elements are 0.65%
of ResNet-50's MACs, 1.5% of DenseNet-121's and about 4% of the mobile CNNs' (MobileNetV2,
MobileNetV3, EfficientNet-B0, ShuffleNetV2 at 224 px). One MAC is two floating-point
operations; this module reports MACs, not FLOPs.
"""
from __future__ import annotations

import math

from suite.models.ir import Model, Node, Shape, walk


def node_macs(node: Node, in_shapes: list[Shape]) -> int:
    """Multiply-adds of one node for one item (0 for ops that are not counted)."""
    if node.op == "conv":
        kh, kw = node.attr("kernel")
        return math.prod(node.shape) * (in_shapes[0][0] // node.attr("groups")) * kh * kw
    if node.op == "dense":
        x = in_shapes[0]
        return math.prod(x[:-1]) * x[-1] * node.attr("units")
    if node.op == "attention":
        s, h = in_shapes[0]
        return 4 * s * h * h + 2 * s * s * h
    return 0


def macs_per_item(model: Model) -> int:
    """Forward multiply-adds for one item (image or sequence): conv + dense + attention."""
    return sum(node_macs(n, shapes) for n, shapes in walk(model))


def flops_per_item(model: Model, task: str) -> float:
    """Floating-point operations per item of one step: 2 x forward MACs, x 3 for a training
    step (forward + backward, CONTRACT §7)."""
    return 2.0 * macs_per_item(model) * (3 if task == "train" else 1)


def params(model: Model) -> int:
    """Parameter count as frameworks and papers report it (BN running statistics excluded)."""
    return model.param_count()
