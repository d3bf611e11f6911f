"""The torch.nn networks of benchmarks/_reference_nets.py, written the way torchvision writes
them (torchvision does not import with our CPU torch): ResNet-50 v1.5, VGG16, SqueezeNet 1.0,
Inception-v3 without the auxiliary classifier, MobileNetV2 and EfficientNet-B0. Random
weights, batch-norm statistics drawn at random too (`torch_net`).

EfficientNet-B0 here has no stochastic depth: torchvision's drops whole residual branches
at random in training; the zoo leaves that regulariser out (suite/models/efficientnet.py),
and so does this reference, so both train the same network.
"""
from __future__ import annotations

from typing import Any


def torch_net(arch: str, size: int) -> Any:
    """The torchvision-style network (random weights; BN statistics drawn at random too,
    since the ONNX exporter merges a fresh BN's identical ones and zeros)."""
    import torch
    from torch import nn

    def conv(i: int, o: int, k: Any, s: int = 1, p: Any = 0, bn_eps: float | None = None) -> Any:
        if bn_eps is None:
            return nn.Sequential(nn.Conv2d(i, o, k, s, p), nn.ReLU(inplace=True))
        return nn.Sequential(nn.Conv2d(i, o, k, s, p, bias=False),
                             nn.BatchNorm2d(o, eps=bn_eps), nn.ReLU(inplace=True))

    class Fork(nn.Module):
        """Branches applied to one input, concatenated along channels."""

        def __init__(self, *branches: nn.Module) -> None:
            super().__init__()
            self.branches = nn.ModuleList(branches)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outs: list[torch.Tensor] = []
            for branch in self.branches:
                outs.append(branch(x))
            return torch.cat(outs, 1)

    class Bottleneck(nn.Module):
        def __init__(self, i: int, planes: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(i, planes, 1, bias=False), nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3, self.relu = nn.BatchNorm2d(planes * 4), nn.ReLU(inplace=True)
            self.downsample = nn.Sequential(
                nn.Conv2d(i, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)) \
                if stride != 1 or i != planes * 4 else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            out += identity
            return self.relu(out)

    def resnet50() -> nn.Module:
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                   nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        i = 64
        for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            for b in range(blocks):
                layers.append(Bottleneck(i, planes, 2 if stage and not b else 1))
                i = planes * 4
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000))

    def vgg16() -> nn.Module:
        layers: list[nn.Module] = []
        i = 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                  512, 512, 512, "M"):
            layers += [nn.MaxPool2d(2, 2)] if v == "M" else [conv(i, int(v), 3, 1, 1)]
            i = i if v == "M" else int(v)
        side = size // 32   # torchvision's adaptive pool to 7x7 is the identity at 224 px
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(side), nn.Flatten(),
                             nn.Linear(512 * side * side, 4096), nn.ReLU(True), nn.Dropout(),
                             nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                             nn.Linear(4096, 1000))

    def fire(i: int, s: int, e: int) -> nn.Module:
        return nn.Sequential(conv(i, s, 1), Fork(conv(s, e, 1), conv(s, e, 3, 1, 1)))

    def squeezenet() -> nn.Module:
        def pool() -> nn.Module:
            return nn.MaxPool2d(3, 2, ceil_mode=True)
        return nn.Sequential(
            conv(3, 96, 7, 2), pool(), fire(96, 16, 64), fire(128, 16, 64), fire(128, 32, 128),
            pool(), fire(256, 32, 128), fire(256, 48, 192), fire(384, 48, 192),
            fire(384, 64, 256), pool(), fire(512, 64, 256), nn.Dropout(0.5),
            conv(512, 1000, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def inception_v3() -> nn.Module:
        def u(i: int, o: int, k: Any, s: int = 1, p: Any = 0) -> nn.Module:
            return conv(i, o, k, s, p, bn_eps=1e-3)

        def pool_branch(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.AvgPool2d(3, 1, 1), u(i, o, 1))

        def a(i: int, pf: int) -> nn.Module:
            return Fork(u(i, 64, 1), nn.Sequential(u(i, 48, 1), u(48, 64, 5, 1, 2)),
                        nn.Sequential(u(i, 64, 1), u(64, 96, 3, 1, 1), u(96, 96, 3, 1, 1)),
                        pool_branch(i, pf))

        def c(c7: int) -> nn.Module:
            return Fork(u(768, 192, 1),
                        nn.Sequential(u(768, c7, 1), u(c7, c7, (1, 7), 1, (0, 3)),
                                      u(c7, 192, (7, 1), 1, (3, 0))),
                        nn.Sequential(u(768, c7, 1), u(c7, c7, (7, 1), 1, (3, 0)),
                                      u(c7, c7, (1, 7), 1, (0, 3)), u(c7, c7, (7, 1), 1, (3, 0)),
                                      u(c7, 192, (1, 7), 1, (0, 3))),
                        pool_branch(768, 192))

        def e(i: int) -> nn.Module:
            def split(w: int) -> nn.Module:
                return Fork(u(w, 384, (1, 3), 1, (0, 1)), u(w, 384, (3, 1), 1, (1, 0)))
            return Fork(u(i, 320, 1), nn.Sequential(u(i, 384, 1), split(384)),
                        nn.Sequential(u(i, 448, 1), u(448, 384, 3, 1, 1), split(384)),
                        pool_branch(i, 192))

        return nn.Sequential(
            u(3, 32, 3, 2), u(32, 32, 3), u(32, 64, 3, 1, 1), nn.MaxPool2d(3, 2),
            u(64, 80, 1), u(80, 192, 3), nn.MaxPool2d(3, 2),
            a(192, 32), a(256, 64), a(288, 64),
            Fork(u(288, 384, 3, 2), nn.Sequential(u(288, 64, 1), u(64, 96, 3, 1, 1),
                                                  u(96, 96, 3, 2)), nn.MaxPool2d(3, 2)),
            c(128), c(160), c(160), c(192),
            Fork(nn.Sequential(u(768, 192, 1), u(192, 320, 3, 2)),
                 nn.Sequential(u(768, 192, 1), u(192, 192, (1, 7), 1, (0, 3)),
                               u(192, 192, (7, 1), 1, (3, 0)), u(192, 192, 3, 2)),
                 nn.MaxPool2d(3, 2)),
            e(1280), e(2048), nn.AdaptiveAvgPool2d(1), nn.Dropout(0.5), nn.Flatten(),
            nn.Linear(2048, 1000))

    builders = {"resnet50": resnet50, "vgg16": vgg16, "squeezenet": squeezenet,
                "inception_v3": inception_v3}
    net = builders[arch]() if arch in builders else mobile_net(arch)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.2), m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    return net


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's `_make_divisible`."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def mobile_net(arch: str) -> Any:
    """The torchvision-style `arch` ("mobilenet_v2" or "efficientnet_b0")."""
    import torch
    from torch import nn

    def conv_bn(i: int, o: int, k: int, s: int = 1, groups: int = 1,
                act: Any = nn.ReLU6) -> nn.Module:
        """torchvision's Conv2dNormActivation."""
        layers = [nn.Conv2d(i, o, k, s, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(o)]
        return nn.Sequential(*layers, *([act(inplace=True)] if act is not None else []))

    class InvertedResidual(nn.Module):
        def __init__(self, i: int, o: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = round(i * expand)
            self.use_res = stride == 1 and i == o
            layers = [conv_bn(i, hidden, 1)] if expand != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, hidden),
                       nn.Conv2d(hidden, o, 1, bias=False), nn.BatchNorm2d(o)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x) if self.use_res else self.conv(x)

    class SqueezeExcitation(nn.Module):
        def __init__(self, channels: int, squeeze: int) -> None:
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
            self.activation, self.scale_activation = nn.SiLU(), nn.Sigmoid()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.fc2(self.activation(self.fc1(self.avgpool(x))))
            return x * self.scale_activation(s)

    class MBConv(nn.Module):
        def __init__(self, i: int, o: int, kernel: int, stride: int, expand: int) -> None:
            super().__init__()
            expanded = make_divisible(i * expand)
            self.use_res = stride == 1 and i == o
            layers = [conv_bn(i, expanded, 1, act=nn.SiLU)] if expanded != i else []
            layers += [conv_bn(expanded, expanded, kernel, stride, expanded, act=nn.SiLU),
                       SqueezeExcitation(expanded, max(1, i // 4)),
                       conv_bn(expanded, o, 1, act=None)]
            self.block = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.block(x) if self.use_res else self.block(x)

    class Net(nn.Module):
        def __init__(self, features: list[nn.Module], last: int) -> None:
            super().__init__()
            self.features = nn.Sequential(*features)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, 1000))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    features: list[nn.Module]
    if arch == "mobilenet_v2":
        features, i = [conv_bn(3, 32, 3, 2)], 32
        for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
            for r in range(n):
                features.append(InvertedResidual(i, c, s if r == 0 else 1, t))
                i = c
        features.append(conv_bn(i, 1280, 1))
    elif arch == "efficientnet_b0":
        features, i = [conv_bn(3, 32, 3, 2, act=nn.SiLU)], 32
        for t, k, s, c, n in ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                              (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                              (6, 3, 1, 320, 1)):
            stage = []
            for r in range(n):
                stage.append(MBConv(i, c, k, s if r == 0 else 1, t))
                i = c
            features.append(nn.Sequential(*stage))
        features.append(conv_bn(i, 1280, 1, act=nn.SiLU))
    else:
        raise ValueError(f"no torch.nn {arch} here")
    return Net(features, 1280)
