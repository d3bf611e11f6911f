"""Each framework's own network for an architecture dlbench's zoo shares, and a plain step.

Used by benchmarks/zoo_parity.py. The references are what a user of the framework would
write without dlbench:

  pytorch     torch.nn networks written the way torchvision writes them (torchvision does
              not import with our CPU torch): ResNet-50 v1.5, VGG16, SqueezeNet 1.0 and
              Inception-v3 without the auxiliary classifier (as the zoo)
  onnx        the PyTorch network, exported by torch.onnx.export, in an InferenceSession
              with the session options of the adapter's own session
  mxnet       mxnet.gluon.model_zoo.vision: resnet50_v1, vgg16, squeezenet1_0, inception_v3
  tensorflow  keras.applications (weights=None, logits): ResNet50, VGG16, InceptionV3

Steps: inference is a forward pass (torch.inference_mode; gluon net(x).wait_to_read();
keras model(x, training=False), eager / tf.function / tf.function(jit_compile=True));
training is softmax cross-entropy + the framework's own SGD (lr 0.01, momentum 0.9,
weight decay 1e-4). Nothing here is timed: zoo_parity and plain_parity time `Reference.step`.

A reference is what a plain user script gets in a process of its own: `set_threads` uses
the framework's own settings (nothing of the adapters'), initial values are the usual ones
(torch.nn's and Keras's defaults, Gluon's Xavier as its tutorials write it), and ONNX
Runtime's session options come as data (`ort`): a reference process holds no adapter.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import numpy as np

LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 1e-4


@dataclass(frozen=True)
class Pair:
    """Which zoo network a framework's own network is compared with, and how they differ."""

    zoo_model: str
    reference: str
    difference: str = ""     # "" = the same architecture


_TORCH = {"resnet50": Pair("resnet50", "torch.nn ResNet-50 v1.5"),
          "vgg16": Pair("vgg16", "torch.nn VGG16"),
          "squeezenet": Pair("squeezenet", "torch.nn SqueezeNet 1.0"),
          "inception_v3": Pair("inception_v3", "torch.nn Inception3 (no aux head)")}
PAIRS: dict[str, dict[str, Pair]] = {
    "pytorch": _TORCH,
    "onnx": {a: Pair(p.zoo_model, f"ORT session of torch.onnx.export({p.reference})")
             for a, p in _TORCH.items()},
    "mxnet": {
        "resnet50": Pair("resnet50_v1", "gluon resnet50_v1",
                         "gluon's bottlenecks have biases on their two 1x1 convs"),
        "vgg16": Pair("vgg16", "gluon vgg16"),
        "squeezenet": Pair("squeezenet", "gluon squeezenet1_0"),
        "inception_v3": Pair("inception_v3", "gluon inception_v3")},
    "tensorflow": {
        "resnet50": Pair("resnet50_v1", "keras ResNet50",
                         "keras: biases on every conv, BN eps 1.001e-5, ZeroPadding2D layers "
                         "before conv1 and pool1"),
        "vgg16": Pair("vgg16", "keras VGG16",
                      "keras has no dropout after fc6/fc7 (only matters for training)"),
        "inception_v3": Pair("inception_v3", "keras InceptionV3",
                             "keras: BN without gamma (scale=False), 'same' average pools "
                             "exclude the padding, no dropout before fc")},
}
ARCHS = ("resnet50", "vgg16", "squeezenet", "inception_v3")


@dataclass
class Reference:
    """A built reference network: `step` runs one synchronous step inside `context()`."""

    step: Callable[[], object]
    context: Callable[[], ContextManager[Any]]
    param_count: int
    note: str = ""


def set_threads(framework: str, threads: int) -> None:
    """`threads` intra-op threads and 1 inter-op thread, the way a user script sets them,
    before the framework's first import (MXNet reads its environment then); ONNX Runtime
    takes them from its session options (`ort_options`)."""
    import os
    if framework == "mxnet":
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MXNET_CPU_WORKER_NTHREADS"] = "1"   # MXNet's default, said explicitly
    elif framework == "pytorch":
        import torch
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    elif framework == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def ort_options(opt: str, threads: int) -> dict:
    """A plain script's session options: all graph optimizations for `script`, none for
    `none`; `threads` intra-op threads, sequential execution."""
    level = "ORT_ENABLE_ALL" if opt == "script" else "ORT_DISABLE_ALL"
    return {"level": level, "intra": threads, "inter": 1}


def build(framework: str, arch: str, task: str, opt: str, x: np.ndarray, labels: np.ndarray,
          default_size: int, ort: dict | None = None) -> Reference:
    """The framework's own `arch` for NCHW input `x`; `ort` describes ONNX Runtime's
    session options (`ort_options`' keys; zoo_parity passes the adapter's own)."""
    if framework == "pytorch":
        return _torch(arch, task, opt, x, labels)
    if framework == "onnx":
        return _onnx(arch, x, ort or ort_options(opt, 0))
    if framework == "mxnet":
        return _gluon(arch, task, opt, x, labels, default_size)
    if framework == "tensorflow":
        return _keras(arch, task, opt, x, labels)
    raise ValueError(f"no reference for {framework}")


# -------------------------------------------------------------------------------- torch

def _torch(arch: str, task: str, opt: str, x: np.ndarray, labels: np.ndarray) -> Reference:
    import torch
    net = torch_net(arch, x.shape[-1])
    count = sum(p.numel() for p in net.parameters())
    xt = torch.from_numpy(np.ascontiguousarray(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # TorchScript's deprecation warnings
        if task == "infer":
            net.eval()
            if opt == "script":
                net = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(net)))
            elif opt == "compile":
                net = torch.compile(net)
            return Reference(lambda: net(xt), torch.inference_mode, count)
        net.train()
        sgd = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM,
                              weight_decay=WEIGHT_DECAY)
        run = {"script": torch.jit.script, "compile": torch.compile}.get(opt, lambda m: m)(net)
    yt = torch.from_numpy(labels)

    def step() -> None:
        sgd.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(run(xt), yt).backward()
        sgd.step()
    return Reference(step, contextlib.nullcontext, count)


def _onnx(arch: str, x: np.ndarray, described: dict) -> Reference:
    import onnxruntime as ort
    import torch
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, described["level"])
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = described["intra"]
    options.inter_op_num_threads = described["inter"]
    net = torch_net(arch, x.shape[-1]).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript-based exporter is deprecated
        # No constant folding: the exporter would fold batch norm into the convs, a graph
        # optimization that `none` (ORT_DISABLE_ALL) must not get from elsewhere.
        torch.onnx.export(net, (torch.from_numpy(x),), buffer, opset_version=17,
                          input_names=["data"], output_names=["logits"],
                          dynamic_axes={"data": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=False, dynamo=False)
    session = ort.InferenceSession(buffer.getvalue(), options,
                                   providers=["CPUExecutionProvider"])
    feeds = {"data": np.ascontiguousarray(x)}
    note = (f"ORT options: level {options.graph_optimization_level.name}, "
            f"intra-op threads {options.intra_op_num_threads}")
    return Reference(lambda: session.run(None, feeds), contextlib.nullcontext,
                     sum(p.numel() for p in net.parameters()), note)


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

    net = {"resnet50": resnet50, "vgg16": vgg16, "squeezenet": squeezenet,
           "inception_v3": inception_v3}[arch]()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.2), m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    return net


# ------------------------------------------------------------------------- mxnet gluon

_GLUON = {"resnet50": "resnet50_v1", "vgg16": "vgg16", "squeezenet": "squeezenet1_0",
          "inception_v3": "inception_v3"}


def _gluon(arch: str, task: str, opt: str, x: np.ndarray, labels: np.ndarray,
           default_size: int) -> Reference:
    from frameworks.mxnet_gluon import _import_mx
    mx = _import_mx()
    net = getattr(mx.gluon.model_zoo.vision, _GLUON[arch])(pretrained=False)
    note = _global_average_pool(mx, net, arch) if x.shape[-1] != default_size else ""
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())   # as users write it (module docstring)
    if opt == "script":
        net.hybridize(static_alloc=True, static_shape=True)

    def nd(a: np.ndarray) -> Any:
        out = mx.nd.empty(a.shape, ctx=mx.cpu(), dtype="float32")
        out[:] = a.astype(np.float32)
        return out
    xn = nd(x)
    net(xn).wait_to_read()   # finishes gluon's deferred parameter shapes
    count = sum(int(np.prod(p.shape)) for p in net.collect_params().values()
                if p.grad_req != "null")
    if task == "infer":
        return Reference(lambda: net(xn).wait_to_read(), contextlib.nullcontext, count, note)
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {
        "learning_rate": LR, "momentum": MOMENTUM, "wd": WEIGHT_DECAY})
    yn, batch = nd(labels), x.shape[0]

    def step() -> None:
        with mx.autograd.record():
            loss = loss_fn(net(xn), yn)
        loss.backward()
        trainer.step(batch)   # the mean over the batch
        mx.nd.waitall()
    return Reference(step, contextlib.nullcontext, count, note)


def _global_average_pool(mx: Any, net: Any, arch: str) -> str:
    """Swap gluon's fixed final average pool (13x13 SqueezeNet, 8x8 Inception-v3: a global
    average at the default size) for a global average, as the zoo does at other sizes."""
    seq = {"squeezenet": getattr(net, "output", None),
           "inception_v3": getattr(net, "features", None)}.get(arch)
    if seq is None:
        return ""
    for key, child in list(seq._children.items()):  # gluon has no public "replace a child"
        if isinstance(child, mx.gluon.nn.AvgPool2D):
            seq._children[key] = mx.gluon.nn.GlobalAvgPool2D()
            return "gluon's fixed final average pool replaced by a global average (as the zoo)"
    return ""


# ------------------------------------------------------------------ keras.applications

_KERAS = {"resnet50": "ResNet50", "vgg16": "VGG16", "inception_v3": "InceptionV3"}


def _keras(arch: str, task: str, opt: str, x: np.ndarray, labels: np.ndarray) -> Reference:
    import keras
    import tensorflow as tf
    size = x.shape[-1]
    model = getattr(keras.applications, _KERAS[arch])(
        weights=None, input_shape=(size, size, 3), classifier_activation=None)
    count = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    xt = tf.constant(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    wrap = (lambda f: f) if opt == "none" else \
        (lambda f: tf.function(f, jit_compile=opt == "compile"))
    if task == "infer":
        forward = wrap(lambda t: model(t, training=False))
        return Reference(lambda: forward(xt), contextlib.nullcontext, count)
    sgd = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    sgd.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    yt = tf.constant(labels)

    def train_step(t: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(t, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        sgd.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    step = wrap(train_step)
    return Reference(lambda: step(xt, yt), contextlib.nullcontext, count,
                     "keras SGD's weight_decay is decoupled (applied to the weights, not "
                     "the gradient)")
