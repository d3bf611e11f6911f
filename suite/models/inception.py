"""Inception-BN (BN-Inception, MXNet's symbol) and Inception-v3 (torchvision's layout).

Both are stacks of concatenated conv + BN + ReLU branches. Each "unit" here is named
``<prefix>`` for the conv, ``<prefix>.bn`` and ``<prefix>.relu``.
"""
from __future__ import annotations

from suite.models.ir import GraphBuilder, Model


def _unit(b: GraphBuilder, name: str, x: str, out: int, kernel, stride=1, padding=0,
          bias: bool = False, eps: float = 1e-3) -> str:
    """conv + batch norm + ReLU."""
    x = b.conv(name, x, out, kernel, stride, padding, bias=bias)
    x = b.batchnorm(f"{name}.bn", x, eps=eps)
    return b.unary("relu", f"{name}.relu", x)


# ------------------------------------------------------------------------- Inception-BN
# MXNet example/image-classification/symbols/inception-bn.py (Ioffe & Szegedy 2015):
# convs with bias, BN eps 1e-5, MXNet's default "valid" (floor) pooling, average pools
# counting the padded zeros. Its final 7x7 average pool is a global average at 224x224.

def _bn_unit(b: GraphBuilder, name: str, x: str, out: int, kernel, stride=1, padding=0) -> str:
    return _unit(b, name, x, out, kernel, stride, padding, bias=True, eps=1e-5)


def _bn_inception_a(b: GraphBuilder, name: str, x: str, c1: int, c3r: int, c3: int,
                    cd3r: int, cd3: int, pool: str, proj: int) -> str:
    """Inception module: 1x1, 1x1->3x3, 1x1->3x3->3x3, pool->1x1 projection."""
    a = _bn_unit(b, f"{name}.1x1", x, c1, 1)
    t = _bn_unit(b, f"{name}.3x3_reduce", x, c3r, 1)
    t = _bn_unit(b, f"{name}.3x3", t, c3, 3, 1, 1)
    d = _bn_unit(b, f"{name}.double_3x3_reduce", x, cd3r, 1)
    d = _bn_unit(b, f"{name}.double_3x3_0", d, cd3, 3, 1, 1)
    d = _bn_unit(b, f"{name}.double_3x3_1", d, cd3, 3, 1, 1)
    if pool == "avg":
        p = b.avgpool(f"{name}.pool", x, 3, 1, 1, count_include_pad=True)
    else:
        p = b.maxpool(f"{name}.pool", x, 3, 1, 1)
    p = _bn_unit(b, f"{name}.proj", p, proj, 1)
    return b.add("concat", f"{name}.concat", [a, t, d, p])


def _bn_inception_b(b: GraphBuilder, name: str, x: str, c3r: int, c3: int,
                    cd3r: int, cd3: int) -> str:
    """Reduction module: stride-2 3x3, stride-2 double 3x3 and a stride-2 max pool."""
    t = _bn_unit(b, f"{name}.3x3_reduce", x, c3r, 1)
    t = _bn_unit(b, f"{name}.3x3", t, c3, 3, 2, 1)
    d = _bn_unit(b, f"{name}.double_3x3_reduce", x, cd3r, 1)
    d = _bn_unit(b, f"{name}.double_3x3_0", d, cd3, 3, 1, 1)
    d = _bn_unit(b, f"{name}.double_3x3_1", d, cd3, 3, 2, 1)
    p = b.maxpool(f"{name}.pool", x, 3, 2, 1)
    return b.add("concat", f"{name}.concat", [t, d, p])


def inception_bn(size: int) -> Model:
    """Inception-BN for (3, size, size) images, 1000 classes."""
    b = GraphBuilder("inception_bn", "Inception-BN")
    x = b.input("data", (3, size, size))
    x = _bn_unit(b, "conv1", x, 64, 7, 2, 3)
    x = b.maxpool("pool1", x, 3, 2)
    x = _bn_unit(b, "conv2_red", x, 64, 1)
    x = _bn_unit(b, "conv2", x, 192, 3, 1, 1)
    x = b.maxpool("pool2", x, 3, 2)
    x = _bn_inception_a(b, "in3a", x, 64, 64, 64, 64, 96, "avg", 32)
    x = _bn_inception_a(b, "in3b", x, 64, 64, 96, 64, 96, "avg", 64)
    x = _bn_inception_b(b, "in3c", x, 128, 160, 64, 96)
    x = _bn_inception_a(b, "in4a", x, 224, 64, 96, 96, 128, "avg", 128)
    x = _bn_inception_a(b, "in4b", x, 192, 96, 128, 96, 128, "avg", 128)
    x = _bn_inception_a(b, "in4c", x, 160, 128, 160, 128, 160, "avg", 128)
    x = _bn_inception_a(b, "in4d", x, 96, 128, 192, 160, 192, "avg", 128)
    x = _bn_inception_b(b, "in4e", x, 128, 192, 192, 256)
    x = _bn_inception_a(b, "in5a", x, 352, 192, 320, 160, 224, "avg", 128)
    x = _bn_inception_a(b, "in5b", x, 352, 192, 320, 192, 224, "max", 128)
    x = b.add("global_avgpool", "global_pool", [x])
    x = b.dense("fc1", x, 1000)
    return b.build(x, num_classes=1000,
                   notes="Inception-BN (BN-Inception, Ioffe & Szegedy 2015) as MXNet's "
                         "inception-bn symbol: convs with bias, floor-mode pooling (MXNet's "
                         "default), final 7x7 average pool written as a global average.")


# ------------------------------------------------------------------------- Inception-v3
# torchvision's Inception3 (Szegedy et al. 2015) without the auxiliary classifier, which is
# training-only; convs without bias, BN eps 1e-3, floor-mode pooling.

def _v3_a(b: GraphBuilder, name: str, x: str, pool_features: int) -> str:
    a = _unit(b, f"{name}.branch1x1", x, 64, 1)
    f = _unit(b, f"{name}.branch5x5_1", x, 48, 1)
    f = _unit(b, f"{name}.branch5x5_2", f, 64, 5, 1, 2)
    d = _unit(b, f"{name}.branch3x3dbl_1", x, 64, 1)
    d = _unit(b, f"{name}.branch3x3dbl_2", d, 96, 3, 1, 1)
    d = _unit(b, f"{name}.branch3x3dbl_3", d, 96, 3, 1, 1)
    p = b.avgpool(f"{name}.branch_pool_avg", x, 3, 1, 1, count_include_pad=True)
    p = _unit(b, f"{name}.branch_pool", p, pool_features, 1)
    return b.add("concat", f"{name}.concat", [a, f, d, p])


def _v3_b(b: GraphBuilder, name: str, x: str) -> str:
    t = _unit(b, f"{name}.branch3x3", x, 384, 3, 2)
    d = _unit(b, f"{name}.branch3x3dbl_1", x, 64, 1)
    d = _unit(b, f"{name}.branch3x3dbl_2", d, 96, 3, 1, 1)
    d = _unit(b, f"{name}.branch3x3dbl_3", d, 96, 3, 2)
    p = b.maxpool(f"{name}.branch_pool", x, 3, 2)
    return b.add("concat", f"{name}.concat", [t, d, p])


def _v3_c(b: GraphBuilder, name: str, x: str, c7: int) -> str:
    a = _unit(b, f"{name}.branch1x1", x, 192, 1)
    s = _unit(b, f"{name}.branch7x7_1", x, c7, 1)
    s = _unit(b, f"{name}.branch7x7_2", s, c7, (1, 7), 1, (0, 3))
    s = _unit(b, f"{name}.branch7x7_3", s, 192, (7, 1), 1, (3, 0))
    d = _unit(b, f"{name}.branch7x7dbl_1", x, c7, 1)
    d = _unit(b, f"{name}.branch7x7dbl_2", d, c7, (7, 1), 1, (3, 0))
    d = _unit(b, f"{name}.branch7x7dbl_3", d, c7, (1, 7), 1, (0, 3))
    d = _unit(b, f"{name}.branch7x7dbl_4", d, c7, (7, 1), 1, (3, 0))
    d = _unit(b, f"{name}.branch7x7dbl_5", d, 192, (1, 7), 1, (0, 3))
    p = b.avgpool(f"{name}.branch_pool_avg", x, 3, 1, 1, count_include_pad=True)
    p = _unit(b, f"{name}.branch_pool", p, 192, 1)
    return b.add("concat", f"{name}.concat", [a, s, d, p])


def _v3_d(b: GraphBuilder, name: str, x: str) -> str:
    t = _unit(b, f"{name}.branch3x3_1", x, 192, 1)
    t = _unit(b, f"{name}.branch3x3_2", t, 320, 3, 2)
    s = _unit(b, f"{name}.branch7x7x3_1", x, 192, 1)
    s = _unit(b, f"{name}.branch7x7x3_2", s, 192, (1, 7), 1, (0, 3))
    s = _unit(b, f"{name}.branch7x7x3_3", s, 192, (7, 1), 1, (3, 0))
    s = _unit(b, f"{name}.branch7x7x3_4", s, 192, 3, 2)
    p = b.maxpool(f"{name}.branch_pool", x, 3, 2)
    return b.add("concat", f"{name}.concat", [t, s, p])


def _v3_e(b: GraphBuilder, name: str, x: str) -> str:
    a = _unit(b, f"{name}.branch1x1", x, 320, 1)
    t = _unit(b, f"{name}.branch3x3_1", x, 384, 1)
    t = b.add("concat", f"{name}.branch3x3", [
        _unit(b, f"{name}.branch3x3_2a", t, 384, (1, 3), 1, (0, 1)),
        _unit(b, f"{name}.branch3x3_2b", t, 384, (3, 1), 1, (1, 0))])
    d = _unit(b, f"{name}.branch3x3dbl_1", x, 448, 1)
    d = _unit(b, f"{name}.branch3x3dbl_2", d, 384, 3, 1, 1)
    d = b.add("concat", f"{name}.branch3x3dbl", [
        _unit(b, f"{name}.branch3x3dbl_3a", d, 384, (1, 3), 1, (0, 1)),
        _unit(b, f"{name}.branch3x3dbl_3b", d, 384, (3, 1), 1, (1, 0))])
    p = b.avgpool(f"{name}.branch_pool_avg", x, 3, 1, 1, count_include_pad=True)
    p = _unit(b, f"{name}.branch_pool", p, 192, 1)
    return b.add("concat", f"{name}.concat", [a, t, d, p])


def inception_v3(size: int) -> Model:
    """Inception-v3 for (3, size, size) images (299 by default), 1000 classes."""
    b = GraphBuilder("inception_v3", "Inception-v3")
    x = b.input("data", (3, size, size))
    x = _unit(b, "Conv2d_1a_3x3", x, 32, 3, 2)
    x = _unit(b, "Conv2d_2a_3x3", x, 32, 3)
    x = _unit(b, "Conv2d_2b_3x3", x, 64, 3, 1, 1)
    x = b.maxpool("maxpool1", x, 3, 2)
    x = _unit(b, "Conv2d_3b_1x1", x, 80, 1)
    x = _unit(b, "Conv2d_4a_3x3", x, 192, 3)
    x = b.maxpool("maxpool2", x, 3, 2)
    x = _v3_a(b, "Mixed_5b", x, 32)
    x = _v3_a(b, "Mixed_5c", x, 64)
    x = _v3_a(b, "Mixed_5d", x, 64)
    x = _v3_b(b, "Mixed_6a", x)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = _v3_c(b, name, x, c7)
    x = _v3_d(b, "Mixed_7a", x)
    x = _v3_e(b, "Mixed_7b", x)
    x = _v3_e(b, "Mixed_7c", x)
    x = b.add("global_avgpool", "avgpool", [x])
    x = b.unary("dropout", "dropout", x, rate=0.5)
    x = b.dense("fc", x, 1000)
    return b.build(x, num_classes=1000,
                   notes="Inception-v3, torchvision layout without the training-only "
                         "auxiliary classifier (torchvision's 27,161,264 minus the aux "
                         "head's 3,326,696); convs without bias, BN eps 1e-3.")
