"""DenseNet-121 in torchvision's layout (`densenet121`): 7,978,856 parameters.

Names follow torchvision's state dict ("features.denseblock1.denselayer1.conv1",
"features.transition1.norm", "classifier"). Each dense layer is pre-activation
(BN-ReLU-conv 1x1 to 4 x growth, BN-ReLU-conv 3x3 to growth) and its output is
concatenated to its block's running features; transitions halve channels and size.
"""
from __future__ import annotations

from suite.models.ir import GraphBuilder, Model

GROWTH = 32
BN_SIZE = 4
BLOCKS_121 = (6, 12, 24, 16)


def _bn_relu_conv(b: GraphBuilder, name: str, x: str, suffix: str, out: int,
                  kernel: int) -> str:
    """norm<suffix>, relu<suffix>, conv<suffix> (no bias, 'same' padding)."""
    x = b.batchnorm(f"{name}.norm{suffix}", x)
    x = b.unary("relu", f"{name}.relu{suffix}", x)
    return b.conv(f"{name}.conv{suffix}", x, out, kernel, 1, (kernel - 1) // 2, bias=False)


def _dense_block(b: GraphBuilder, name: str, x: str, layers: int) -> str:
    features = [x]
    for i in range(1, layers + 1):
        layer = f"{name}.denselayer{i}"
        inp = features[0] if len(features) == 1 else \
            b.add("concat", f"{layer}.cat", features)
        y = _bn_relu_conv(b, layer, inp, "1", BN_SIZE * GROWTH, 1)
        features.append(_bn_relu_conv(b, layer, y, "2", GROWTH, 3))
    return b.add("concat", f"{name}.out", features)


def densenet121(size: int) -> Model:
    """DenseNet-121 (Huang et al. 2017), torchvision's `densenet121` (growth 32, blocks
    6, 12, 24, 16, 64 initial features, bottleneck 4 x growth, compression 0.5)."""
    b = GraphBuilder("densenet121", "DenseNet-121")
    x = b.conv("features.conv0", b.input("data", (3, size, size)), 64, 7, 2, 3, bias=False)
    x = b.unary("relu", "features.relu0", b.batchnorm("features.norm0", x))
    x = b.maxpool("features.pool0", x, 3, 2, 1)
    for i, layers in enumerate(BLOCKS_121, start=1):
        x = _dense_block(b, f"features.denseblock{i}", x, layers)
        if i < len(BLOCKS_121):
            name = f"features.transition{i}"
            x = _bn_relu_conv(b, name, x, "", b.shape(x)[0] // 2, 1)
            x = b.avgpool(f"{name}.pool", x, 2, 2)
    x = b.unary("relu", "features.relu5", b.batchnorm("features.norm5", x))
    x = b.global_avgpool("avgpool", x)
    x = b.dense("classifier", x, 1000)
    return b.build(x, num_classes=1000, notes=(
        "DenseNet-121, torchvision's densenet121: BN eps 1e-5, convs without bias, 2x2 "
        "average pools in the transitions, no dropout (drop_rate 0)."))
