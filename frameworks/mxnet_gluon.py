"""MXNet adapter: imperative Gluon, or hybridized (static_alloc, static_shape) as `script`.

The network is a Gluon HybridBlock generated from the IR (frameworks._mx_graph). Steps are
asynchronous (MXNet's engine): `step` only queues work, `synchronize` waits for it.
Training is softmax cross-entropy averaged over the batch with gluon.Trainer's SGD, whose
update (mom = momentum * mom - lr * (grad + wd * w); w += mom) equals torch.optim.SGD's for a
constant learning rate; weight decay applies to every trainable parameter (wd_mult 1).
"""
from __future__ import annotations

import dataclasses
import math
import os
import warnings
from typing import Any

import numpy as np

from frameworks.base import (Availability, BuildRequest, OutOfMemory, describe,
                             require_supported)

_INSTALL = "pip install mxnet==1.9.1"


def _import_mx() -> Any:
    """Import mxnet 1.9.1, which still uses aliases NumPy 1.24+ removed."""
    for alias, value in (("bool", bool), ("object", object), ("int", int), ("float", float)):
        if alias not in vars(np):  # hasattr would trigger NumPy's FutureWarning
            setattr(np, alias, value)
    with warnings.catch_warnings():  # mxnet's import touches removed NumPy functions
        warnings.simplefilter("ignore", DeprecationWarning)
        import mxnet as mx
    return mx


def _to_nd(mx: Any, value: np.ndarray, ctx: Any, dtype: str) -> Any:
    """A device NDArray copy of `value` (mx.nd.array would trip over scipy's deprecations)."""
    value = np.ascontiguousarray(value, dtype=dtype)
    out = mx.nd.empty(value.shape, ctx=ctx, dtype=dtype)
    out[:] = value
    return out


def _reraise(error: Exception) -> None:
    """Raise an MXNetError again, as OutOfMemory when it reports one."""
    if "out of memory" in str(error).lower():
        raise OutOfMemory(describe(error)) from error
    raise error


class MXNetAdapter:
    """The `mxnet` framework of dlbench."""

    name = "mxnet"
    optimizations = {"infer": ("none", "script"), "train": ("none", "script")}
    deployed = {"infer": "script", "train": "script"}
    mode_names = {"none": "imperative", "script": "hybridized"}

    def configure_threads(self, intra_op: int, inter_op: int) -> None:
        """MXNet reads its thread counts from the environment when it is first imported."""
        if intra_op > 0:
            os.environ["OMP_NUM_THREADS"] = str(intra_op)
        if inter_op > 0:
            os.environ["MXNET_CPU_WORKER_NTHREADS"] = str(inter_op)

    def availability(self) -> Availability:
        try:
            mx = _import_mx()
        except Exception as e:  # noqa: BLE001 - any import failure means unavailable
            return Availability(False, reason=f"mxnet cannot be imported ({describe(e)})",
                                install=_INSTALL)
        if mx.context.num_gpus() > 0:
            return Availability(True, version=mx.__version__, devices=("cpu", "cuda"))
        return Availability(True, version=mx.__version__, devices=("cpu",),
                            device_reason="mxnet sees no GPU here (CPU-only build or no "
                                          "CUDA device)")

    def unsupported(self, task: str, optimization: str, device: str,
                    dtype: str = "float32") -> str | None:
        if optimization == "compile":
            return "mxnet has no compile optimization (hybridize is its 'script')"
        if optimization not in self.optimizations.get(task, ()):
            return f"mxnet has no optimization {optimization!r} for {task}"
        if dtype != "float32":
            return f"the mxnet adapter runs float32 only, not {dtype!r}"
        if device not in ("cpu", "cuda"):
            return f"mxnet does not run on device {device!r}"
        return None

    def build(self, request: BuildRequest) -> "MXRunnable":
        require_supported(self, request)
        mx = _import_mx()
        try:
            return MXRunnable(mx, request)
        except mx.base.MXNetError as e:
            _reraise(e)


class MXRunnable:
    """A built Gluon network bound to its inputs."""

    def __init__(self, mx: Any, request: BuildRequest) -> None:
        # Everything but the weights: the parameters hold their own copies, and a kept
        # weights dict would count the model's size twice in the memory measured.
        self._mx, self._request = mx, dataclasses.replace(request, weights={})
        self._ctx = mx.gpu(0) if request.device == "cuda" else mx.cpu()
        from frameworks._mx_graph import build_net
        self.net, self._params = build_net(mx, request.model, request.dropout,
                                           training=request.task == "train")
        self.net.initialize(mx.init.Zero(), ctx=self._ctx)
        for name, param in self._params.items():
            if name not in request.weights:
                raise ValueError(f"weights lack parameter {name!r}")
            value = np.asarray(request.weights[name], dtype=np.float32)
            if value.shape != param.shape:
                raise ValueError(f"parameter {name!r} has shape {value.shape}, "
                                 f"expected {param.shape}")
            param.set_data(_to_nd(mx, value, self._ctx, "float32"))
        self._trainable = {k: p for k, p in self._params.items() if p.grad_req != "null"}
        if request.optimization == "script":
            self.net.hybridize(static_alloc=True, static_shape=True)
        if request.task == "train":
            for p in self._trainable.values():
                p.wd_mult, p.lr_mult = 1.0, 1.0   # decay every parameter, as torch.optim.SGD
            # A dict, as Gluon users pass net.collect_params(): the Trainer sorts it by name,
            # which groups the BatchNorm vectors apart from the convolution weights. Its
            # aggregated update kernel (multi_sgd_mom_update, 4 arrays a call) loops over
            # the largest array's length for every array in the group, so the creation
            # order (weight, gamma, beta, weight, ...) cost Inception-v3 ~40% more update
            # time than Gluon's own network (123 vs 88 ms a step, bs 8 @112).
            self._trainer = mx.gluon.Trainer(
                {p.name: p for p in self._trainable.values()}, "sgd",
                {"learning_rate": request.lr, "momentum": request.momentum,
                 "wd": request.weight_decay}, kvstore=None)
            self._loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
        self._inputs: list[Any] = []
        self._labels: Any = None
        self._last: Any = None

    def set_inputs(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        mx = self._mx
        self._inputs = [_to_nd(mx, inputs[s.name], self._ctx, s.dtype)
                        for s in self._request.model.inputs]
        if self._request.task == "train":
            if labels is None:
                raise ValueError("training needs labels")
            self._labels = _to_nd(mx, labels, self._ctx, "float32")
        self._mx.nd.waitall()

    def step(self) -> None:
        """Queue one step on MXNet's engine (returns before the work is done)."""
        mx = self._mx
        try:
            if self._request.task == "infer":
                # Release the previous output first: with static_alloc a live output keeps
                # the engine from reusing its buffer, which a plain loop never pays for.
                self._last = None
                self._last = self.net(*self._inputs)
                return
            with mx.autograd.record(train_mode=True):
                loss = self._loss_fn(self.net(*self._inputs), self._labels)
            # Gluon's own idiom: backward from the per-sample losses and let the optimizer
            # rescale by 1/batch, the gradient of the batch mean without a mean op and its
            # backward in the graph.
            loss.backward()
            self._trainer.step(self._request.batch_size)
            self._last = loss
        except mx.base.MXNetError as e:
            _reraise(e)

    def synchronize(self) -> None:
        try:
            if self._request.task == "infer" and self._last is not None:
                self._last.wait_to_read()   # the only work a forward step queues
            else:
                self._mx.nd.waitall()       # training also queues the parameter updates
        except self._mx.base.MXNetError as e:
            _reraise(e)

    def result(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("result() before step()")
        if self._request.task == "train":
            return np.asarray(self._last.asnumpy().mean(dtype=np.float64),
                              dtype=np.float32).reshape(())   # the batch mean, as the IR's loss
        return self._last.asnumpy()

    def parameters(self) -> dict[str, np.ndarray]:
        return {k: p.data().asnumpy() for k, p in self._trainable.items()}

    def param_count(self) -> int:
        return int(sum(math.prod(p.shape) for p in self._trainable.values()))

    def memory_mib(self) -> dict[str, float]:
        if self._request.device != "cuda":
            return {}
        free, total = self._mx.context.gpu_memory_info(0)
        return {"mx_device_used_mib": (total - free) / 2**20}

    def stream_handle(self) -> int | None:
        return None  # MXNet does not expose its CUDA stream
