"""The interface every framework adapter implements.

An adapter builds a native network from a `suite.models.ir.Model` plus weights and runs
one step of it. It never times itself: the measurement loop, memory sampling and
statistics live in `suite`. Framework imports happen inside the adapter's methods,
so `import frameworks` imports no deep-learning framework.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from suite.models.ir import Model


class OutOfMemory(RuntimeError):
    """Raised by an adapter when its framework reports an out-of-memory condition."""


@dataclass(frozen=True)
class Availability:
    """Whether a framework can be used here; `reason` and `install` say why not and how to fix it."""

    ok: bool
    version: str = ""
    reason: str = ""
    install: str = ""
    devices: tuple[str, ...] = ("cpu",)
    device_reason: str = ""     # why a device the adapter can drive is missing here


@dataclass(frozen=True)
class BuildRequest:
    """Everything an adapter needs to build one runnable."""

    model: Model
    weights: dict[str, np.ndarray]      # stable names, layouts as documented in suite.models.ir
    task: str                           # "infer" | "train"
    optimization: str                   # "none" | "script" | "compile"
    batch_size: int
    device: str = "cpu"
    dtype: str = "float32"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    dropout: bool = True                # False: dropout is identity in training too (equivalence tests)
    profile_dir: str | None = None      # --profile: where a framework whose profiler is switched
    #   on at build time (ONNX Runtime) writes its trace; None: no profiler (suite.profiling)


class Runnable(Protocol):
    """A built network bound to its inputs, ready to step."""

    def set_inputs(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        """Place inputs (and labels for training) on the device; done outside timing."""

    def step(self) -> None:
        """One step: a forward pass (infer) or forward+backward+SGD update (train). May be
        asynchronous on GPU; `synchronize` waits for it."""

    def synchronize(self) -> None:
        """Wait until all work issued by `step` has finished."""

    def result(self) -> np.ndarray:
        """The last step's output (infer: the model output, batch first; train: the loss, shape ())."""

    def parameters(self) -> dict[str, np.ndarray]:
        """Current trainable parameters by stable name, in the neutral layout of suite.models.ir."""

    def param_count(self) -> int:
        """Number of trainable parameters in the native network."""

    def memory_mib(self) -> dict[str, float]:
        """The framework's own memory figures in MiB (e.g. torch allocated/reserved peak); may be empty."""

    def stream_handle(self) -> int | None:
        """The CUDA stream the framework issues work on (an integer handle), or None on CPU."""

    # Optional: `close()`, called by the worker after a point is measured, frees what the
    # runnable holds (a framework allocator's cached device memory included), so that the
    # next point of a shared worker (--no-worker-per-point) starts clean.


class Adapter(Protocol):
    """One framework. CLI names map to adapters in `frameworks.REGISTRY`."""

    name: str                                   # CLI name, e.g. "pytorch"
    optimizations: dict[str, tuple[str, ...]]   # task -> supported optimizations
    deployed: dict[str, str]                    # task -> the mode its users deploy (--opts default)
    mode_names: dict[str, str]                  # optimization -> what tables call it ("eager")
    # Optional: `data_parallel`, the module of its data-parallel training backend (e.g.
    # "frameworks.pytorch_ddp"; see suite.dataparallel). Adapters without it run no
    # --nproc-per-node points.

    def configure_threads(self, intra_op: int, inter_op: int) -> None:
        """Set thread counts; called in a fresh worker before the framework is first imported."""

    def availability(self) -> Availability:
        """Import the framework (lazily) and say whether it is usable."""

    def unsupported(self, task: str, optimization: str, device: str,
                    dtype: str = "float32") -> str | None:
        """Why this combination cannot run (reported as skipped), or None if it can: from
        the adapter's declarations alone, importing no framework (the runner asks it for
        every point; whether a device exists here is `availability()`, asked in a worker)."""

    def build(self, request: BuildRequest) -> Runnable:
        """Build the native network, load the weights, apply the optimization."""


def require_supported(adapter: Adapter, request: BuildRequest) -> None:
    """Raise NotImplementedError with the reason when `adapter` cannot build `request`:
    its own unsupported() verdict, training of a model that is not a classifier, or a
    device its framework does not see here."""
    reason = adapter.unsupported(request.task, request.optimization, request.device,
                                 request.dtype)
    if reason is None and request.task == "train" and not request.model.is_classifier:
        reason = "training is defined for image classifiers only"
    if reason is None and request.device != "cpu":
        avail = adapter.availability()
        if request.device not in avail.devices:
            reason = avail.device_reason or f"{adapter.name} has no {request.device} device here"
    if reason:
        raise NotImplementedError(reason)


def describe(obj: Any) -> str:
    """One line for an exception, for status messages: its first line and, where its text
    runs on, its last error line, which says the cause when the first is a wrapper's
    ("The following operation failed in the TorchScript interpreter.")."""
    lines = [line.strip() for line in str(obj).strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    cause = next((line for line in reversed(lines[1:]) if "Error" in line.split(":")[0]), "")
    return f"{type(obj).__name__}: {first}{' ... ' + cause if cause else ''}"[:500]
