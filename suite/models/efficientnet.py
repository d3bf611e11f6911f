"""EfficientNet-B0 in torchvision's layout (`efficientnet_b0`): 5,288,548 parameters.

Names follow torchvision's state dict ("features.1.0.block.0.0", "classifier.1").
Stochastic depth (torchvision's per-block drop path, rate 0.2 x block index / 16) is a
training-time regulariser that is the identity at inference; the description leaves it out,
so a training step here runs every block (as torchvision's with stochastic depth disabled).
"""
from __future__ import annotations

from suite.models.ir import GraphBuilder, Model
from suite.models.mobilenet import conv_bn_act, make_divisible, squeeze_excitation

# MBConv stages: (expand ratio, kernel, first stride, output channels, repeats)
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def _mbconv(b: GraphBuilder, name: str, x: str, expand: int, kernel: int, stride: int,
            out: int) -> str:
    """1x1 expand (ratio > 1), depthwise, squeeze-excitation (SiLU, sigmoid; squeeze =
    input channels / 4), 1x1 projection; residual where the shape is kept."""
    inp = b.shape(x)[0]
    expanded = make_divisible(inp * expand)
    y, i = x, 0
    if expanded != inp:
        y, i = conv_bn_act(b, f"{name}.block.0", y, expanded, 1, act="silu"), 1
    y = conv_bn_act(b, f"{name}.block.{i}", y, expanded, kernel, stride, groups=expanded,
                    act="silu")
    y = squeeze_excitation(b, f"{name}.block.{i + 1}", y, max(1, inp // 4), "silu", "sigmoid")
    y = conv_bn_act(b, f"{name}.block.{i + 2}", y, out, 1, act=None)
    return b.add("add", f"{name}.add", [y, x]) if stride == 1 and inp == out else y


def efficientnet_b0(size: int) -> Model:
    """EfficientNet-B0 (Tan & Le 2019), torchvision's `efficientnet_b0`."""
    b = GraphBuilder("efficientnet_b0", "EfficientNet-B0")
    x = conv_bn_act(b, "features.0", b.input("data", (3, size, size)), 32, 3, 2, act="silu")
    for stage, (expand, kernel, stride, out, repeats) in enumerate(B0_STAGES, start=1):
        for i in range(repeats):
            x = _mbconv(b, f"features.{stage}.{i}", x, expand, kernel, stride if i == 0 else 1,
                        out)
    x = conv_bn_act(b, f"features.{len(B0_STAGES) + 1}", x, 1280, 1, act="silu")
    x = b.global_avgpool("avgpool", x)
    x = b.add("dropout", "classifier.0", [x], rate=0.2)
    x = b.dense("classifier.1", x, 1000)
    return b.build(x, num_classes=1000, notes=(
        "EfficientNet-B0, torchvision's efficientnet_b0: SiLU, squeeze-excitation with "
        "sigmoid gates, BN eps 1e-5, dropout 0.2; stochastic depth (identity at inference) "
        "left out."))
