"""ResNet and ResNeXt in torchvision's layout (ResNet v1.5: the stride sits in the 3x3 conv).

`resnet50_v1` is ResNet v1 (the stride in the first 1x1 conv), the variant of MXNet Gluon's
and Keras's model zoos, for comparisons with those networks (benchmarks/zoo_parity.py).

Names follow torchvision's state dict ("layer1.0.conv1", "layer1.0.downsample.conv", "fc"),
so parameter counts can be checked against torchvision's published figures.
Each block's residual branch is the first input of its `add` node, the shortcut the second.
"""
from __future__ import annotations

from typing import Callable

from suite.models.ir import GraphBuilder, Model

STAGE_PLANES = (64, 128, 256, 512)

# (builder, block name, input, planes, stride, groups, base_width) -> output node
Block = Callable[[GraphBuilder, str, str, int, int, int, int], str]


def _conv_bn(b: GraphBuilder, name: str, x: str, suffix: str, out: int, kernel: int,
             stride: int = 1, padding: int = 0, groups: int = 1) -> str:
    """conv (no bias) + batch norm, named <name>.conv<suffix> / <name>.bn<suffix>."""
    x = b.conv(f"{name}.conv{suffix}", x, out, kernel, stride, padding, groups=groups, bias=False)
    return b.batchnorm(f"{name}.bn{suffix}", x)


def _shortcut(b: GraphBuilder, name: str, x: str, out: int, stride: int) -> str:
    """Identity, or 1x1 conv + BN when the shape changes (torchvision's option B)."""
    c, h, w = b.shape(x)
    if stride == 1 and c == out:
        return x
    x = b.conv(f"{name}.downsample.conv", x, out, 1, stride, bias=False)
    return b.batchnorm(f"{name}.downsample.bn", x)


def basic_block(b: GraphBuilder, name: str, x: str, planes: int, stride: int,
                groups: int, base_width: int) -> str:
    """Two 3x3 convs (ResNet-18/34)."""
    if groups != 1 or base_width != 64:
        raise ValueError("basic_block supports only groups=1, base_width=64")
    y = _conv_bn(b, name, x, "1", planes, 3, stride, 1)
    y = b.unary("relu", f"{name}.relu1", y)
    y = _conv_bn(b, name, y, "2", planes, 3, 1, 1)
    y = b.add("add", f"{name}.add", [y, _shortcut(b, name, x, planes, stride)])
    return b.unary("relu", f"{name}.relu", y)


def bottleneck(b: GraphBuilder, name: str, x: str, planes: int, stride: int,
               groups: int, base_width: int) -> str:
    """1x1 reduce, 3x3 (grouped for ResNeXt, carries the stride), 1x1 expand x4."""
    return _bottleneck(b, name, x, planes, stride, groups, base_width, stride_in_1x1=False)


def bottleneck_v1(b: GraphBuilder, name: str, x: str, planes: int, stride: int,
                  groups: int, base_width: int) -> str:
    """ResNet v1's bottleneck: as `bottleneck`, but the stride sits in the first 1x1 conv."""
    return _bottleneck(b, name, x, planes, stride, groups, base_width, stride_in_1x1=True)


def _bottleneck(b: GraphBuilder, name: str, x: str, planes: int, stride: int, groups: int,
                base_width: int, stride_in_1x1: bool) -> str:
    width = int(planes * (base_width / 64.0)) * groups
    out = planes * 4
    y = _conv_bn(b, name, x, "1", width, 1, stride if stride_in_1x1 else 1)
    y = b.unary("relu", f"{name}.relu1", y)
    y = _conv_bn(b, name, y, "2", width, 3, 1 if stride_in_1x1 else stride, 1, groups)
    y = b.unary("relu", f"{name}.relu2", y)
    y = _conv_bn(b, name, y, "3", out, 1)
    y = b.add("add", f"{name}.add", [y, _shortcut(b, name, x, out, stride)])
    return b.unary("relu", f"{name}.relu", y)


def resnet(name: str, size: int, block: Block, layers: tuple[int, int, int, int],
           groups: int = 1, base_width: int = 64, notes: str = "") -> Model:
    """A torchvision-layout ResNet/ResNeXt for (3, size, size) images and 1000 classes."""
    b = GraphBuilder(name, name)
    x = b.input("data", (3, size, size))
    x = b.conv("conv1", x, 64, 7, 2, 3, bias=False)
    x = b.batchnorm("bn1", x)
    x = b.unary("relu", "relu", x)
    x = b.maxpool("maxpool", x, 3, 2, 1)
    for stage, (planes, blocks) in enumerate(zip(STAGE_PLANES, layers), start=1):
        for i in range(blocks):
            stride = 2 if stage > 1 and i == 0 else 1
            x = block(b, f"layer{stage}.{i}", x, planes, stride, groups, base_width)
    x = b.add("global_avgpool", "avgpool", [x])
    x = b.dense("fc", x, 1000)
    return b.build(x, num_classes=1000, notes=notes)


_TV = "torchvision layout (v1.5, stride in the 3x3 conv, BN eps 1e-5)"


def resnet18(size: int) -> Model:
    return resnet("resnet18", size, basic_block, (2, 2, 2, 2), notes=f"ResNet-18, {_TV}.")


def resnet34(size: int) -> Model:
    return resnet("resnet34", size, basic_block, (3, 4, 6, 3), notes=f"ResNet-34, {_TV}.")


def resnet50(size: int) -> Model:
    return resnet("resnet50", size, bottleneck, (3, 4, 6, 3), notes=f"ResNet-50, {_TV}.")


def resnet50_v1(size: int) -> Model:
    return resnet("resnet50_v1", size, bottleneck_v1, (3, 4, 6, 3),
                  notes="ResNet-50 v1 (He et al. 2015; MXNet Gluon resnet50_v1, "
                        "keras.applications ResNet50): the stride of a downsampling bottleneck "
                        "sits in its first 1x1 conv; otherwise as resnet50 (torchvision "
                        "layout, convs without bias, BN eps 1e-5), same parameters, fewer MACs.")


def resnet101(size: int) -> Model:
    return resnet("resnet101", size, bottleneck, (3, 4, 23, 3), notes=f"ResNet-101, {_TV}.")


def resnet152(size: int) -> Model:
    return resnet("resnet152", size, bottleneck, (3, 8, 36, 3), notes=f"ResNet-152, {_TV}.")


def resnet200(size: int) -> Model:
    return resnet("resnet200", size, bottleneck, (3, 24, 36, 3),
                  notes="ResNet-200: bottleneck blocks [3, 24, 36, 3] as in fb.resnet.torch, "
                        f"{_TV}; parameter count computed from that definition.")


def resnext50(size: int) -> Model:
    return resnet("resnext50", size, bottleneck, (3, 4, 6, 3), groups=32, base_width=4,
                  notes=f"ResNeXt-50 32x4d, {_TV}.")


def resnext101(size: int) -> Model:
    return resnet("resnext101", size, bottleneck, (3, 4, 23, 3), groups=32, base_width=4,
                  notes="ResNeXt-101 32x4d (the paper's and MXNet/Gluon's ResNeXt-101, not "
                        f"torchvision's 32x8d), {_TV}.")


def resnext101_64x4d(size: int) -> Model:
    return resnet("resnext101_64x4d", size, bottleneck, (3, 4, 23, 3), groups=64, base_width=4,
                  notes=f"ResNeXt-101 64x4d, {_TV}.")
