"""Plain convolutional classifiers: CaffeNet, SqueezeNet 1.0, NIN and VGG-16/19.

CaffeNet, SqueezeNet and NIN come from Caffe definitions and keep Caffe's ceil-mode
pooling. Where a reference network ends in a fixed-size average pool that equals a global
average at the default input size (NIN's 6x6, SqueezeNet's 13x13), the description uses
``global_avgpool`` so that reduced input sizes stay valid; at the default size the network
is unchanged. Networks that flatten into fully connected layers (CaffeNet, VGG) have no
adaptive pooling: at a reduced input size their first FC layer is smaller (fewer
parameters); the reference parameter counts hold at the default size.
"""
from __future__ import annotations

from suite.models.ir import GraphBuilder, Model


def _conv_relu(b: GraphBuilder, name: str, x: str, out: int, kernel, stride=1, padding=0,
               groups: int = 1) -> str:
    x = b.conv(name, x, out, kernel, stride, padding, groups=groups)
    return b.unary("relu", f"{name}.relu", x)


def _fc_relu_drop(b: GraphBuilder, name: str, x: str, units: int) -> str:
    x = b.dense(name, x, units)
    x = b.unary("relu", f"{name}.relu", x)
    return b.unary("dropout", f"{name}.dropout", x, rate=0.5)


def _lrn(b: GraphBuilder, name: str, x: str) -> str:
    return b.unary("lrn", name, x, size=5, alpha=1e-4, beta=0.75, k=1.0)


def caffenet(size: int) -> Model:
    """BVLC reference CaffeNet: AlexNet with pooling before LRN, grouped conv2/4/5."""
    b = GraphBuilder("caffenet", "CaffeNet")
    x = b.input("data", (3, size, size))
    x = _conv_relu(b, "conv1", x, 96, 11, 4)
    x = b.maxpool("pool1", x, 3, 2, ceil_mode=True)
    x = _lrn(b, "norm1", x)
    x = _conv_relu(b, "conv2", x, 256, 5, 1, 2, groups=2)
    x = b.maxpool("pool2", x, 3, 2, ceil_mode=True)
    x = _lrn(b, "norm2", x)
    x = _conv_relu(b, "conv3", x, 384, 3, 1, 1)
    x = _conv_relu(b, "conv4", x, 384, 3, 1, 1, groups=2)
    x = _conv_relu(b, "conv5", x, 256, 3, 1, 1, groups=2)
    x = b.maxpool("pool5", x, 3, 2, ceil_mode=True)
    x = b.unary("flatten", "flatten", x)
    x = _fc_relu_drop(b, "fc6", x, 4096)
    x = _fc_relu_drop(b, "fc7", x, 4096)
    x = b.dense("fc8", x, 1000)
    return b.build(x, num_classes=1000,
                   notes="bvlc_reference_caffenet (Caffe model zoo): conv groups=2 in "
                         "conv2/4/5, LRN after pooling, ceil-mode pools, 227x227 input.")


def _fire(b: GraphBuilder, name: str, x: str, squeeze: int, expand: int) -> str:
    s = _conv_relu(b, f"{name}.squeeze", x, squeeze, 1)
    e1 = _conv_relu(b, f"{name}.expand1x1", s, expand, 1)
    e3 = _conv_relu(b, f"{name}.expand3x3", s, expand, 3, 1, 1)
    return b.add("concat", f"{name}.concat", [e1, e3])


def squeezenet(size: int) -> Model:
    """SqueezeNet 1.0 as in torchvision (ceil-mode max pools, conv10 + ReLU + global average)."""
    b = GraphBuilder("squeezenet", "SqueezeNet")
    x = b.input("data", (3, size, size))
    x = _conv_relu(b, "conv1", x, 96, 7, 2)
    x = b.maxpool("pool1", x, 3, 2, ceil_mode=True)
    x = _fire(b, "fire2", x, 16, 64)
    x = _fire(b, "fire3", x, 16, 64)
    x = _fire(b, "fire4", x, 32, 128)
    x = b.maxpool("pool4", x, 3, 2, ceil_mode=True)
    x = _fire(b, "fire5", x, 32, 128)
    x = _fire(b, "fire6", x, 48, 192)
    x = _fire(b, "fire7", x, 48, 192)
    x = _fire(b, "fire8", x, 64, 256)
    x = b.maxpool("pool8", x, 3, 2, ceil_mode=True)
    x = _fire(b, "fire9", x, 64, 256)
    x = b.unary("dropout", "drop9", x, rate=0.5)
    x = _conv_relu(b, "conv10", x, 1000, 1)
    x = b.add("global_avgpool", "pool10", [x])
    return b.build(x, num_classes=1000,
                   notes="SqueezeNet 1.0 (Iandola et al. 2016), torchvision squeezenet1_0 "
                         "layout; final 13x13 average pool written as a global average.")


def nin(size: int) -> Model:
    """Network in Network, ImageNet model from the Caffe model zoo (Lin et al. 2014)."""
    b = GraphBuilder("nin", "NIN")
    x = b.input("data", (3, size, size))
    x = _conv_relu(b, "conv1", x, 96, 11, 4)
    x = _conv_relu(b, "cccp1", x, 96, 1)
    x = _conv_relu(b, "cccp2", x, 96, 1)
    x = b.maxpool("pool1", x, 3, 2, ceil_mode=True)
    x = _conv_relu(b, "conv2", x, 256, 5, 1, 2)
    x = _conv_relu(b, "cccp3", x, 256, 1)
    x = _conv_relu(b, "cccp4", x, 256, 1)
    x = b.maxpool("pool2", x, 3, 2, ceil_mode=True)
    x = _conv_relu(b, "conv3", x, 384, 3, 1, 1)
    x = _conv_relu(b, "cccp5", x, 384, 1)
    x = _conv_relu(b, "cccp6", x, 384, 1)
    x = b.maxpool("pool3", x, 3, 2, ceil_mode=True)
    x = b.unary("dropout", "drop", x, rate=0.5)
    x = _conv_relu(b, "conv4", x, 1024, 3, 1, 1)
    x = _conv_relu(b, "cccp7", x, 1024, 1)
    x = _conv_relu(b, "cccp8", x, 1000, 1)
    x = b.add("global_avgpool", "pool4", [x])
    return b.build(x, num_classes=1000,
                   notes="NIN ImageNet model (Caffe model zoo, nin_imagenet): 4 mlpconv "
                         "stages, ceil-mode pools, 224x224 input; the final 6x6 average pool "
                         "is written as a global average.")


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M")
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M")


def vgg(name: str, title: str, size: int, cfg: tuple) -> Model:
    """VGG without batch norm (Simonyan & Zisserman 2014, configurations D and E)."""
    b = GraphBuilder(name, title)
    x = b.input("data", (3, size, size))
    stage, conv = 1, 1
    for item in cfg:
        if item == "M":
            x = b.maxpool(f"pool{stage}", x, 2, 2)
            stage, conv = stage + 1, 1
        else:
            x = _conv_relu(b, f"conv{stage}_{conv}", x, int(item), 3, 1, 1)
            conv += 1
    x = b.unary("flatten", "flatten", x)
    x = _fc_relu_drop(b, "fc6", x, 4096)
    x = _fc_relu_drop(b, "fc7", x, 4096)
    x = b.dense("fc8", x, 1000)
    return b.build(x, num_classes=1000,
                   notes=f"{title} without batch norm, torchvision layout (whose 7x7 adaptive "
                         "pool is the identity at 224x224).")


def vgg16(size: int) -> Model:
    return vgg("vgg16", "VGG16", size, VGG16_CFG)


def vgg19(size: int) -> Model:
    return vgg("vgg19", "VGG19", size, VGG19_CFG)
