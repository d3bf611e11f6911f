"""Each framework's own network for an architecture dlbench's zoo shares, and a plain step.

Used by benchmarks/zoo_parity.py. The references are what a user of the framework would
write without dlbench:

  pytorch     torch.nn networks written the way torchvision writes them (torchvision does
              not import with our CPU torch): ResNet-50 v1.5, VGG16, SqueezeNet 1.0,
              Inception-v3 without the auxiliary classifier (as the zoo), MobileNetV2 and
              EfficientNet-B0 (benchmarks/_reference_torch.py)
  onnx        the PyTorch network, exported by torch.onnx.export, in an InferenceSession
              with the session options of the adapter's own session
  mxnet       mxnet.gluon.model_zoo.vision: resnet50_v1, vgg16, squeezenet1_0, inception_v3,
              mobilenet_v2_1_0 (Gluon's zoo has no EfficientNet)
  tensorflow  keras.applications (weights=None, logits): ResNet50, VGG16, InceptionV3,
              MobileNetV2, EfficientNetB0

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

from _reference_torch import torch_net

LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 1e-4


@dataclass(frozen=True)
class Pair:
    """Which zoo network a framework's own network is compared with, and how they differ."""

    zoo_model: str
    reference: str
    difference: str = ""     # "" = the same architecture


MX_MOBILE_DIFF = ("gluon: the first block has a 1x1 expansion conv too, the classifier is "
                  "a 1x1 conv without bias, no dropout")
KERAS_MOBILE_DIFF = ("keras: BN eps 1e-3, ZeroPadding2D before the stride-2 depthwise convs, "
                     "no dropout")
KERAS_EFFICIENT_DIFF = ("keras: rescaling and normalization layers at the input, BN eps 1e-3, "
                        "drop-connect 0.2 in training (the zoo has no stochastic depth)")

_TORCH = {"resnet50": Pair("resnet50", "torch.nn ResNet-50 v1.5"),
          "vgg16": Pair("vgg16", "torch.nn VGG16"),
          "squeezenet": Pair("squeezenet", "torch.nn SqueezeNet 1.0"),
          "inception_v3": Pair("inception_v3", "torch.nn Inception3 (no aux head)"),
          "mobilenet_v2": Pair("mobilenet_v2", "torch.nn MobileNetV2"),
          "efficientnet_b0": Pair("efficientnet_b0", "torch.nn EfficientNet-B0 "
                                  "(no stochastic depth, as the zoo)")}
PAIRS: dict[str, dict[str, Pair]] = {
    "pytorch": _TORCH,
    "onnx": {a: Pair(p.zoo_model, f"ORT session of torch.onnx.export({p.reference})")
             for a, p in _TORCH.items()},
    "mxnet": {
        "resnet50": Pair("resnet50_v1", "gluon resnet50_v1",
                         "gluon's bottlenecks have biases on their two 1x1 convs"),
        "vgg16": Pair("vgg16", "gluon vgg16"),
        "squeezenet": Pair("squeezenet", "gluon squeezenet1_0"),
        "inception_v3": Pair("inception_v3", "gluon inception_v3"),
        "mobilenet_v2": Pair("mobilenet_v2", "gluon mobilenet_v2_1_0", MX_MOBILE_DIFF)},
    "tensorflow": {
        "resnet50": Pair("resnet50_v1", "keras ResNet50",
                         "keras: biases on every conv, BN eps 1.001e-5, ZeroPadding2D layers "
                         "before conv1 and pool1"),
        "vgg16": Pair("vgg16", "keras VGG16",
                      "keras has no dropout after fc6/fc7 (only matters for training)"),
        "inception_v3": Pair("inception_v3", "keras InceptionV3",
                             "keras: BN without gamma (scale=False), 'same' average pools "
                             "exclude the padding, no dropout before fc"),
        "mobilenet_v2": Pair("mobilenet_v2", "keras MobileNetV2", KERAS_MOBILE_DIFF),
        "efficientnet_b0": Pair("efficientnet_b0", "keras EfficientNetB0",
                                KERAS_EFFICIENT_DIFF)},
}
ARCHS = ("resnet50", "vgg16", "squeezenet", "inception_v3", "mobilenet_v2", "efficientnet_b0")


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


# ------------------------------------------------------------------------- mxnet gluon

_GLUON = {"resnet50": "resnet50_v1", "vgg16": "vgg16", "squeezenet": "squeezenet1_0",
          "inception_v3": "inception_v3", "mobilenet_v2": "mobilenet_v2_1_0"}


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

_KERAS = {"resnet50": "ResNet50", "vgg16": "VGG16", "inception_v3": "InceptionV3",
          "mobilenet_v2": "MobileNetV2", "efficientnet_b0": "EfficientNetB0"}


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
