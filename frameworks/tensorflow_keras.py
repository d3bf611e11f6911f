"""TensorFlow adapter: eager, tf.function, or tf.function with XLA (jit_compile).

The network is built from raw `tf` ops over `tf.Variable`s (frameworks._tf_graph), NHWC
inside; inputs arrive NCHW and are transposed once in `set_inputs`. Training is a
GradientTape step with SGD as PyTorch defines it (L2 weight decay added to the gradient,
momentum buffer, `w -= lr * v`, on every trainable parameter; TF's fused ApplyMomentum kernel
does the last two) because Keras 3's SGD decouples weight decay and folds the learning rate
into its momentum. The module keeps its historical name; it uses tf.Variables and tf ops,
not Keras layers, so that every IR op (ceil-mode pools, LRN windows, batch statistics) is
exactly the documented computation. Grouped convolutions run group by group where TF cannot
run them whole on a CPU (training; with a bias under tf.function without oneDNN:
`fused_grouped_conv_runs`).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import numpy as np

from frameworks.base import (Availability, BuildRequest, OutOfMemory, describe,
                             require_supported)


def _import_tf() -> Any:
    """Import TensorFlow quietly (C++ INFO/WARNING logs off unless the user set a level)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    return tf


def enable_memory_growth(tf: Any) -> None:
    """Let TF's GPU allocator grow as needed: by default it reserves nearly all of every
    GPU when its devices are initialised, so the process's device memory would read the
    GPU's size whatever the model. Must run before TF initialises its GPUs."""
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def _has_biased_grouped_conv(model: Any) -> bool:
    """Whether `model` has a grouped convolution with a bias (the pattern grappler fuses)."""
    params = model.param_shapes()
    return any(n.op == "conv" and (n.attr("groups") or 1) > 1 and f"{n.name}.bias" in params
               for n in model.nodes)


@functools.lru_cache(maxsize=None)
def fused_grouped_conv_runs(tf: Any) -> bool:
    """Whether a tf.function on the CPU runs a grouped convolution followed by a bias: grappler
    fuses the pair into one kernel, which rejects groups where TF runs without oneDNN (e.g.
    on CPUs without AVX-512: "Fused conv implementation does not support grouped
    convolutions"). Probed once per process on a tiny input."""
    with tf.device("/CPU:0"):
        x, w, b = tf.ones([1, 2, 2, 4]), tf.ones([1, 1, 2, 4]), tf.ones([4])
        fn = tf.function(lambda x: tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "VALID"), b))
        try:
            fn(x).numpy()
        except tf.errors.OpError:
            return False
    return True


class TensorFlowAdapter:
    """The `tensorflow` framework of dlbench."""

    name = "tensorflow"
    optimizations = {"infer": ("none", "script", "compile"), "train": ("none", "script", "compile")}
    deployed = {"infer": "script", "train": "script"}
    mode_names = {"none": "eager", "script": "tf.function", "compile": "XLA"}

    def configure_threads(self, intra_op: int, inter_op: int) -> None:
        """Set TF's thread pools (0 keeps TF's default) and GPU memory growth; must run
        before TF executes anything (the worker calls it right after the import)."""
        tf = _import_tf()
        if intra_op > 0:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op > 0:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        enable_memory_growth(tf)

    def availability(self) -> Availability:
        try:
            tf = _import_tf()
        except Exception as e:  # noqa: BLE001 - any import failure means unavailable
            return Availability(False, reason=f"tensorflow cannot be imported ({describe(e)})",
                                install="pip install tensorflow")
        if tf.config.list_physical_devices("GPU"):
            return Availability(True, version=tf.__version__, devices=("cpu", "cuda"))
        return Availability(True, version=tf.__version__, devices=("cpu",),
                            device_reason="tensorflow sees no GPU here (CPU-only build or "
                                          "no CUDA device)")

    def unsupported(self, task: str, optimization: str, device: str,
                    dtype: str = "float32") -> str | None:
        if optimization not in self.optimizations.get(task, ()):
            return f"tensorflow has no optimization {optimization!r} for {task}"
        if dtype != "float32":
            return f"the tensorflow adapter runs float32 only, not {dtype!r}"
        if device not in ("cpu", "cuda"):
            return f"tensorflow does not run on device {device!r}"
        return None

    def build(self, request: BuildRequest) -> "TFRunnable":
        require_supported(self, request)
        tf = _import_tf()
        try:
            return TFRunnable(tf, request)
        except tf.errors.ResourceExhaustedError as e:
            raise OutOfMemory(describe(e)) from e


class TFRunnable:
    """A built TensorFlow network bound to its inputs."""

    def __init__(self, tf: Any, request: BuildRequest) -> None:
        from frameworks._tf_graph import TFNet
        self._tf = tf
        # Everything but the weights: the variables hold their own copies, and a kept
        # weights dict would count the model's size twice in the memory measured.
        self._request = dataclasses.replace(request, weights={})
        self._device = "/GPU:0" if request.device == "cuda" else "/CPU:0"
        with tf.device(self._device):
            cpu_graph = request.device == "cpu" and request.optimization != "compile"
            self.net = TFNet(request.model, request.weights, dropout=request.dropout,
                             split_grouped_training=cpu_graph,
                             split_grouped_inference=cpu_graph
                             and request.optimization == "script"
                             and _has_biased_grouped_conv(request.model)
                             and not fused_grouped_conv_runs(tf))
            self._slots = [tf.Variable(tf.zeros_like(v), trainable=False)
                           for v in self.net.trainable]
        # A partial (no __code__) keys TF's retracing detector per build, so building one net
        # per point never warns about "excessive retracing".
        fn = functools.partial(self._train_step if request.task == "train" else self._infer_step)
        if request.optimization == "none":
            self._fn = fn
        else:
            self._fn = tf.function(fn, jit_compile=request.optimization == "compile")
        self._inputs: list[Any] = []
        self._labels: Any = None
        self._last: Any = None

    # The step functions run eagerly or are traced once by tf.function.
    def _infer_step(self, inputs: list, labels: Any) -> Any:
        return self.net.forward(inputs, training=False)

    def _train_step(self, inputs: list, labels: Any) -> Any:
        tf, r = self._tf, self._request
        with tf.GradientTape() as tape:
            logits = self.net.forward(inputs, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        grads = tape.gradient(loss, self.net.trainable)
        lr, momentum = tf.constant(r.lr, tf.float32), tf.constant(r.momentum, tf.float32)
        with tf.name_scope("sgd_update"):   # the scope tells the update's ops apart in a
            for w, v, g in zip(self.net.trainable, self._slots, grads):   # profile (names only)
                # L2 in the gradient, as torch.optim.SGD; then TF's fused kernel does
                # v = momentum * v + g; w -= lr * v in one pass (written out as tensor ops
                # it cost three more passes over every weight: 1.5x the update's time).
                g = g + r.weight_decay * w
                tf.raw_ops.ResourceApplyMomentum(var=w.handle, accum=v.handle, lr=lr, grad=g,
                                                 momentum=momentum, use_locking=False)
        return loss

    def set_inputs(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        tf = self._tf
        tensors = []
        with tf.device(self._device):
            for spec in self._request.model.inputs:
                x = np.asarray(inputs[spec.name])
                if len(spec.shape) == 3:
                    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # NCHW -> NHWC
                dtype = tf.float32 if spec.dtype == "float32" else tf.as_dtype(spec.dtype)
                tensors.append(tf.constant(x, dtype=dtype))
            self._labels = None if labels is None else tf.constant(labels, dtype=tf.int64)
        if self._request.task == "train" and self._labels is None:
            raise ValueError("training needs labels")
        self._inputs = tensors

    def step(self) -> None:
        try:
            with self._tf.device(self._device):
                self._last = self._fn(self._inputs, self._labels)
        except self._tf.errors.ResourceExhaustedError as e:
            raise OutOfMemory(describe(e)) from e

    def synchronize(self) -> None:
        if self._request.device == "cuda":
            try:
                self._tf.test.experimental.sync_devices()
            except self._tf.errors.ResourceExhaustedError as e:
                raise OutOfMemory(describe(e)) from e
        # On CPU, eager ops and tf.function calls return after their work has finished.

    def result(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("result() before step()")
        value = self._last.numpy()
        if value.ndim == 4:
            value = np.ascontiguousarray(value.transpose(0, 3, 1, 2))  # NHWC -> the IR's NCHW
        return value

    def parameters(self) -> dict[str, np.ndarray]:
        return self.net.parameters()

    def param_count(self) -> int:
        return int(sum(int(np.prod(v.shape)) for v in self.net.trainable))

    def memory_mib(self) -> dict[str, float]:
        if self._request.device != "cuda":
            return {}
        info = self._tf.config.experimental.get_memory_info("GPU:0")
        return {"tf_current_mib": info["current"] / 2**20, "tf_peak_mib": info["peak"] / 2**20}

    def stream_handle(self) -> int | None:
        return None  # TensorFlow does not expose its CUDA stream
