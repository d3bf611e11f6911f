"""PyTorch adapter: eager, TorchScript (frozen and optimized for inference), or torch.compile.

The network is a torch.fx GraphModule generated from the IR (frameworks._torch_graph): one
standard submodule per parametric op and a plain generated forward, so `script` really is
torch.jit.script (not trace) and `compile` is torch.compile of the same module. Training is
softmax cross-entropy (mean over the batch) and torch.optim.SGD over every trainable
parameter; bfloat16/float16 run under torch.autocast (float16 on CUDA only).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np

from frameworks.base import (Availability, BuildRequest, OutOfMemory, describe,
                             require_supported)

DTYPES = ("float32", "bfloat16", "float16")
_FX_SCRIPT_LINT = "The TorchScript type system doesn't support instance-level annotations"
_OOM_MARKERS = ("out of memory", "DefaultCPUAllocator: can't allocate memory")


def _is_oom(torch: Any, exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _OOM_MARKERS)


@contextlib.contextmanager
def _oom_as_outofmemory(torch: Any):
    """Re-raise the framework's out-of-memory errors as frameworks.base.OutOfMemory."""
    try:
        yield
    except (RuntimeError, MemoryError) as e:
        if isinstance(e, MemoryError) or _is_oom(torch, e):
            raise OutOfMemory(describe(e)) from e
        raise


_STREAMS: dict[int, Any] = {}


def _worker_stream(torch: Any, device: Any) -> Any:
    """One stream per device for every runnable of this process: torch keeps a cuBLAS
    workspace (64 MiB on an H200) for each (handle, stream) it ever used, for the life of
    the process, so a new stream per point would grow a shared worker's memory each point."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _STREAMS:
        _STREAMS[index] = torch.cuda.Stream(index)
    return _STREAMS[index]


class PyTorchAdapter:
    """The `pytorch` framework of dlbench."""

    name = "pytorch"
    optimizations = {"infer": ("none", "script", "compile"), "train": ("none", "script", "compile")}
    deployed = {"infer": "none", "train": "none"}
    mode_names = {"none": "eager", "script": "TorchScript", "compile": "torch.compile"}
    data_parallel = "frameworks.pytorch_ddp"   # DDP under torch.distributed (--nproc-per-node)

    def configure_threads(self, intra_op: int, inter_op: int) -> None:
        """torch.set_num_threads / set_num_interop_threads (0 keeps torch's default)."""
        import torch
        if intra_op > 0:
            torch.set_num_threads(intra_op)
        if inter_op > 0:
            try:
                torch.set_num_interop_threads(inter_op)
            except RuntimeError:
                pass  # already set, or inter-op work already started: torch allows it once

    def availability(self) -> Availability:
        try:
            import torch
        except ImportError:
            return Availability(False, reason="torch is not installed", install="pip install torch")
        except Exception as e:  # noqa: BLE001 - a broken install is unavailable too
            return Availability(False, reason=f"torch cannot be imported ({describe(e)})",
                                install="pip install torch")
        if torch.cuda.is_available():
            return Availability(True, version=torch.__version__, devices=("cpu", "cuda"))
        return Availability(True, version=torch.__version__, devices=("cpu",),
                            device_reason="torch sees no CUDA device here (CPU-only build "
                                          "or no GPU)")

    def unsupported(self, task: str, optimization: str, device: str,
                    dtype: str = "float32") -> str | None:
        if task not in self.optimizations:
            return f"pytorch has no task {task!r} (valid: {', '.join(self.optimizations)})"
        if optimization not in self.optimizations[task]:
            return f"pytorch has no optimization {optimization!r} for {task}"
        if device not in ("cpu", "cuda"):
            return f"pytorch does not run on device {device!r}"
        if dtype not in DTYPES:
            return f"pytorch adapter supports dtypes {', '.join(DTYPES)}, not {dtype!r}"
        if dtype == "float16" and device == "cpu":
            return "float16 autocast is supported on cuda only (use bfloat16 on cpu)"
        return None

    def build(self, request: BuildRequest) -> "TorchRunnable":
        require_supported(self, request)
        import torch
        with _oom_as_outofmemory(torch):
            return TorchRunnable(torch, request)


class TorchRunnable:
    """A built PyTorch network bound to its inputs."""

    def __init__(self, torch: Any, request: BuildRequest) -> None:
        from frameworks._torch_graph import TorchNet
        self._torch = torch
        self._model = request.model
        self._task = request.task
        self._device = torch.device(request.device)
        self._cuda = self._device.type == "cuda"
        self.net = TorchNet(request.model, request.weights, request.device,
                            dropout=request.dropout)
        module = self.net.module
        self._autocast = None if request.dtype == "float32" else \
            (self._device.type, getattr(torch, request.dtype))
        self._optimizer = None
        if request.task == "train":
            module.train()
            self._optimizer = torch.optim.SGD(module.parameters(), lr=request.lr,
                                              momentum=request.momentum,
                                              weight_decay=request.weight_decay)
        else:
            module.eval()
        self.native = self._optimize(module, request.optimization)  # what step() calls
        self._param_count = int(sum(p.numel() for p in module.parameters()))
        if request.optimization == "script" and request.task == "infer":
            # The frozen module holds its own (conv-BN folded) weights: keeping the eager
            # one too would count every weight twice in the memory measured.
            self.net = None
        self._inputs: list[Any] = []
        self._labels: Any = None
        self._out: Any = None
        # On a GPU every step runs on a stream of dlbench's own: the timer records its
        # CUDA events there (torch's default stream is the legacy stream, handle 0).
        self._stream = _worker_stream(torch, self._device) if self._cuda else None
        if self._cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def _optimize(self, module: Any, optimization: str) -> Any:
        torch = self._torch
        if optimization == "script":
            with warnings.catch_warnings():
                # TorchScript is deprecated in favour of torch.compile, but it is the `script`
                # mode dlbench measures; fx's GraphModule.__init__ trips a harmless lint.
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                warnings.filterwarnings("ignore", message=_FX_SCRIPT_LINT, category=UserWarning)
                scripted = torch.jit.script(module)
                if self._task == "infer":
                    scripted = torch.jit.optimize_for_inference(torch.jit.freeze(scripted))
            return scripted
        if optimization == "compile":
            return torch.compile(module)
        return module

    def _on_stream(self) -> Any:
        """The context that issues work on the runnable's own stream (none on the CPU)."""
        if self._stream is None:
            return contextlib.nullcontext()
        return self._torch.cuda.stream(self._stream)

    def _amp(self) -> Any:
        if self._autocast is None:
            return contextlib.nullcontext()
        device_type, dtype = self._autocast
        return self._torch.autocast(device_type, dtype=dtype)

    def set_inputs(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        torch = self._torch
        with _oom_as_outofmemory(torch), self._on_stream():
            self._inputs = [
                torch.tensor(np.asarray(inputs[spec.name]), device=self._device,
                             dtype=torch.int64 if spec.dtype.startswith("int") else torch.float32)
                for spec in self._model.inputs]
            self._labels = None if labels is None else \
                torch.tensor(np.asarray(labels), dtype=torch.int64, device=self._device)
        if self._task == "train" and self._labels is None:
            raise ValueError("training needs labels")

    def step(self) -> None:
        torch = self._torch
        with _oom_as_outofmemory(torch), self._on_stream():
            if self._optimizer is None:
                with torch.inference_mode(), self._amp():
                    self._out = self.native(*self._inputs)
                return
            with self._amp():
                logits = self.native(*self._inputs)
            loss = torch.nn.functional.cross_entropy(logits.float(), self._labels)
            self._optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self._optimizer.step()
            self._out = loss.detach()

    def synchronize(self) -> None:
        if self._cuda:
            with _oom_as_outofmemory(self._torch):
                self._torch.cuda.synchronize(self._device)

    def result(self) -> np.ndarray:
        if self._out is None:
            raise RuntimeError("result() before step()")
        self.synchronize()   # the step ran on its own stream; the copy runs on the default
        return self._out.detach().float().cpu().numpy()

    def parameters(self) -> dict[str, np.ndarray]:
        if self.net is None:
            raise NotImplementedError("a frozen TorchScript inference module folds batch norm "
                                      "into its convolutions: its parameters are the build "
                                      "weights")
        return self.net.parameters()

    def param_count(self) -> int:
        return self._param_count

    def memory_mib(self) -> dict[str, float]:
        if not self._cuda:
            return {}
        cuda = self._torch.cuda
        return {"torch_allocated_peak_mib": cuda.max_memory_allocated(self._device) / 2**20,
                "torch_reserved_peak_mib": cuda.max_memory_reserved(self._device) / 2**20}

    def close(self) -> None:
        """Drop the network, its state and inputs, and hand the allocator's cached device
        blocks back to the driver, so that the next point of a shared worker starts from
        the CUDA context alone (its NVML figure does not count this point's cache)."""
        if self._cuda:
            self.synchronize()
        self.native = self.net = self._optimizer = self._out = self._labels = None
        self._inputs = []
        if self._cuda:
            import gc
            gc.collect()
            self._torch.cuda.empty_cache()

    def stream_handle(self) -> int | None:
        """The runnable's own CUDA stream (never 0, the legacy default stream), or None."""
        return None if self._stream is None else int(self._stream.cuda_stream)
