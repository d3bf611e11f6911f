"""MobileNetV2 and MobileNetV3-Large in torchvision's layout (`mobilenet_v2`,
`mobilenet_v3_large`, width 1.0).

Names follow torchvision's state dict ("features.1.conv.0.0", "classifier.1"), so the
parameter counts can be checked against its published figures: 3,504,872 and 5,483,032.
Each inverted residual's branch is the first input of its `add` node, the input the second.
"""
from __future__ import annotations

from suite.models.ir import GraphBuilder, Model


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's `_make_divisible`: round to a multiple of `divisor`, never below 90%."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def conv_bn_act(b: GraphBuilder, name: str, x: str, out: int, kernel: int, stride: int = 1,
                groups: int = 1, act: str | None = "relu6", eps: float = 1e-5) -> str:
    """torchvision's Conv2dNormActivation: conv (no bias, 'same' padding) + BN + activation,
    named <name>.0 / <name>.1 / <name>.2."""
    x = b.conv(f"{name}.0", x, out, kernel, stride, (kernel - 1) // 2, groups=groups,
               bias=False)
    x = b.batchnorm(f"{name}.1", x, eps=eps)
    if act == "relu6":
        return b.clip(f"{name}.2", x)
    return x if act is None else b.unary(act, f"{name}.2", x)


def squeeze_excitation(b: GraphBuilder, name: str, x: str, squeeze: int, act: str,
                       gate: str) -> str:
    """torchvision's SqueezeExcitation: global average (kept 1x1), fc1 (1x1 conv with bias),
    `act`, fc2, `gate` (sigmoid or hardsigmoid), scale the input by it."""
    channels = b.shape(x)[0]
    s = b.global_avgpool(f"{name}.avgpool", x, keepdims=True)
    s = b.unary(act, f"{name}.activation", b.conv(f"{name}.fc1", s, squeeze, 1))
    s = b.conv(f"{name}.fc2", s, channels, 1)
    s = b.hardsigmoid(f"{name}.scale_activation", s) if gate == "hardsigmoid" \
        else b.unary(gate, f"{name}.scale_activation", s)
    return b.add("mul", f"{name}.scale", [x, s])


# MobileNetV2: (expansion t, output channels c, repeats n, first stride s)
V2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
              (6, 160, 3, 2), (6, 320, 1, 1))


def _v2_block(b: GraphBuilder, name: str, x: str, out: int, stride: int, expand: int) -> str:
    """Inverted residual: 1x1 expand (t > 1), 3x3 depthwise, 1x1 linear projection."""
    inp = b.shape(x)[0]
    hidden = round(inp * expand)
    y, i = x, 0
    if expand != 1:
        y, i = conv_bn_act(b, f"{name}.conv.0", y, hidden, 1), 1
    y = conv_bn_act(b, f"{name}.conv.{i}", y, hidden, 3, stride, groups=hidden)
    y = b.conv(f"{name}.conv.{i + 1}", y, out, 1, bias=False)
    y = b.batchnorm(f"{name}.conv.{i + 2}", y)
    return b.add("add", f"{name}.add", [y, x]) if stride == 1 and inp == out else y


def mobilenet_v2(size: int) -> Model:
    """MobileNetV2 (Sandler et al. 2018), torchvision's `mobilenet_v2`: 3,504,872 parameters."""
    b = GraphBuilder("mobilenet_v2", "MobileNetV2")
    x = conv_bn_act(b, "features.0", b.input("data", (3, size, size)), 32, 3, 2)
    index = 1
    for expand, out, repeats, stride in V2_SETTING:
        for i in range(repeats):
            x = _v2_block(b, f"features.{index}", x, out, stride if i == 0 else 1, expand)
            index += 1
    x = conv_bn_act(b, f"features.{index}", x, 1280, 1)
    x = b.global_avgpool("avgpool", x)
    x = b.add("dropout", "classifier.0", [x], rate=0.2)
    x = b.dense("classifier.1", x, 1000)
    return b.build(x, num_classes=1000, notes=(
        "MobileNetV2 1.0, torchvision's mobilenet_v2: ReLU6, BN eps 1e-5, convs without "
        "bias, dropout 0.2 before the classifier."))


# MobileNetV3-Large: (kernel, expanded channels, output channels, SE, activation, stride)
V3_LARGE = ((3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2),
            (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
            (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
            (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
            (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
            (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
            (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
            (5, 960, 160, True, "hardswish", 1))
V3_EPS = 1e-3   # torchvision: BatchNorm2d(eps=0.001, momentum=0.01)


def _v3_block(b: GraphBuilder, name: str, x: str, kernel: int, expanded: int, out: int,
              se: bool, act: str, stride: int) -> str:
    inp = b.shape(x)[0]
    y, i = x, 0
    if expanded != inp:
        y, i = conv_bn_act(b, f"{name}.block.0", y, expanded, 1, act=act, eps=V3_EPS), 1
    y = conv_bn_act(b, f"{name}.block.{i}", y, expanded, kernel, stride, groups=expanded,
                    act=act, eps=V3_EPS)
    if se:
        i += 1
        y = squeeze_excitation(b, f"{name}.block.{i}", y, make_divisible(expanded // 4),
                               "relu", "hardsigmoid")
    y = conv_bn_act(b, f"{name}.block.{i + 1}", y, out, 1, act=None, eps=V3_EPS)
    return b.add("add", f"{name}.add", [y, x]) if stride == 1 and inp == out else y


def mobilenet_v3_large(size: int) -> Model:
    """MobileNetV3-Large (Howard et al. 2019), torchvision's `mobilenet_v3_large`:
    5,483,032 parameters."""
    b = GraphBuilder("mobilenet_v3_large", "MobileNetV3-Large")
    x = conv_bn_act(b, "features.0", b.input("data", (3, size, size)), 16, 3, 2,
                    act="hardswish", eps=V3_EPS)
    for index, setting in enumerate(V3_LARGE, start=1):
        x = _v3_block(b, f"features.{index}", x, *setting)
    x = conv_bn_act(b, f"features.{len(V3_LARGE) + 1}", x, 960, 1, act="hardswish",
                    eps=V3_EPS)
    x = b.global_avgpool("avgpool", x)
    x = b.unary("hardswish", "classifier.1", b.dense("classifier.0", x, 1280))
    x = b.add("dropout", "classifier.2", [x], rate=0.2)
    x = b.dense("classifier.3", x, 1000)
    return b.build(x, num_classes=1000, notes=(
        "MobileNetV3-Large 1.0, torchvision's mobilenet_v3_large: hardswish, squeeze-"
        "excitation with hardsigmoid gates (squeeze = make_divisible(C / 4, 8)), BN eps 1e-3, "
        "a 960 -> 1280 hidden classifier layer with dropout 0.2."))
