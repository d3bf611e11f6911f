"""ShuffleNetV2 1.0x in torchvision's layout (`shufflenet_v2_x1_0`): 2,278,604 parameters.

Names follow torchvision's state dict ("stage2.0.branch1.0", "conv5.0", "fc"). A stride-1
unit splits its channels in two halves (the `slice` op), transforms the second and
concatenates; a stride-2 unit transforms the whole input in two branches. Every unit ends
with a channel shuffle of two groups.
"""
from __future__ import annotations

from suite.models.ir import GraphBuilder, Model

STAGE_REPEATS = (4, 8, 4)
STAGE_CHANNELS_X1_0 = (24, 116, 232, 464, 1024)


def _conv_bn(b: GraphBuilder, name: str, x: str, index: int, out: int, kernel: int,
             stride: int = 1, depthwise: bool = False, relu: bool = True) -> tuple[str, int]:
    """conv (no bias) + BN (+ ReLU) named <name>.<index>, .<index+1> (, .<index+2>); returns
    the output and the next free index."""
    groups = b.shape(x)[0] if depthwise else 1
    x = b.conv(f"{name}.{index}", x, out, kernel, stride, (kernel - 1) // 2, groups=groups,
               bias=False)
    x = b.batchnorm(f"{name}.{index + 1}", x)
    if not relu:
        return x, index + 2
    return b.unary("relu", f"{name}.{index + 2}", x), index + 3


def _branch2(b: GraphBuilder, name: str, x: str, features: int, stride: int) -> str:
    """1x1 conv-BN-ReLU, 3x3 depthwise-BN, 1x1 conv-BN-ReLU."""
    y, i = _conv_bn(b, name, x, 0, features, 1)
    y, i = _conv_bn(b, name, y, i, features, 3, stride, depthwise=True, relu=False)
    y, _ = _conv_bn(b, name, y, i, features, 1)
    return y


def _unit(b: GraphBuilder, name: str, x: str, out: int, stride: int) -> str:
    features = out // 2
    if stride == 1:
        channels = b.shape(x)[0]
        left = b.add("slice", f"{name}.split0", [x], begin=0, end=channels // 2)
        right = b.add("slice", f"{name}.split1", [x], begin=channels // 2, end=channels)
        parts = [left, _branch2(b, f"{name}.branch2", right, features, 1)]
    else:
        y, i = _conv_bn(b, f"{name}.branch1", x, 0, b.shape(x)[0], 3, stride, depthwise=True,
                        relu=False)
        y, _ = _conv_bn(b, f"{name}.branch1", y, i, features, 1)
        parts = [y, _branch2(b, f"{name}.branch2", x, features, stride)]
    y = b.add("concat", f"{name}.concat", parts)
    return b.add("channel_shuffle", f"{name}.shuffle", [y], groups=2)


def shufflenet_v2_x1_0(size: int) -> Model:
    """ShuffleNetV2 1.0x (Ma et al. 2018), torchvision's `shufflenet_v2_x1_0`."""
    b = GraphBuilder("shufflenet_v2", "ShuffleNetV2-1.0")
    x, _ = _conv_bn(b, "conv1", b.input("data", (3, size, size)), 0, STAGE_CHANNELS_X1_0[0], 3, 2)
    x = b.maxpool("maxpool", x, 3, 2, 1)
    for stage, (repeats, out) in enumerate(zip(STAGE_REPEATS, STAGE_CHANNELS_X1_0[1:4]), start=2):
        for i in range(repeats):
            x = _unit(b, f"stage{stage}.{i}", x, out, 2 if i == 0 else 1)
    x, _ = _conv_bn(b, "conv5", x, 0, STAGE_CHANNELS_X1_0[4], 1)
    x = b.global_avgpool("mean", x)
    x = b.dense("fc", x, 1000)
    return b.build(x, num_classes=1000, notes=(
        "ShuffleNetV2 1.0x, torchvision's shufflenet_v2_x1_0: stages of 4, 8, 4 units with "
        "116, 232, 464 channels, channel split by slicing, channel shuffle of 2 groups, BN eps "
        "1e-5, convs without bias."))
