"""ONNX Runtime adapter (inference only): graph optimizations disabled, or all of them.

The ONNX graph is written directly from the IR with onnx.helper (frameworks._onnx_graph,
opset 17, dynamic batch axis), checked with onnx.checker and handed to an InferenceSession
as bytes. Inputs and the output are bound once with IO binding (on the GPU for the CUDA
execution provider), so a step is one `run_with_iobinding` call. On the GPU the session
computes on a stream dlbench creates and hands to the CUDA execution provider
(`user_compute_stream`), so the measurement loop records its CUDA events on that stream.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from frameworks.base import (Availability, BuildRequest, OutOfMemory, describe,
                             require_supported)

_INSTALL = "pip install onnx onnxruntime  (GPU: pip install onnx onnxruntime-gpu)"
_OOM_MARKERS = ("Failed to allocate memory", "bad_alloc", "out of memory")
_LEVELS = {"none": "ORT_DISABLE_ALL", "script": "ORT_ENABLE_ALL"}


def _import() -> tuple[Any, Any]:
    import onnx
    import onnxruntime
    return onnx, onnxruntime


def cuda_provider_options(stream: int, device: int = 0) -> dict[str, str]:
    """The CUDA execution provider's options: compute on `stream` (a CUstream handle)."""
    return {"device_id": str(device), "user_compute_stream": str(stream),
            "has_user_compute_stream": "1"}


def session_providers(stream: int | None, device: int = 0) -> list[Any]:
    """The session's execution providers: CUDA on `stream` first where one is given (the
    CPU provider then runs the few ops CUDA lacks), else the CPU alone."""
    if stream is None:
        return ["CPUExecutionProvider"]
    return [("CUDAExecutionProvider", cuda_provider_options(stream, device)),
            "CPUExecutionProvider"]


@functools.lru_cache(maxsize=None)
def compute_stream(device: int = 0) -> int:
    """One non-blocking CUDA stream per device for every session of this process (made
    once, never destroyed: a session may use it until it is freed)."""
    from suite import _native
    return _native.cuda_stream_create(device, True)


def _oom(exc: BaseException) -> OutOfMemory | None:
    """An OutOfMemory for ORT's allocation failures, None for other errors."""
    if isinstance(exc, MemoryError) or any(m in str(exc) for m in _OOM_MARKERS):
        return OutOfMemory(describe(exc))
    return None


def _raise_oom(exc: BaseException) -> None:
    """Raise OutOfMemory from `exc` when it is an allocation failure (else return)."""
    oom = _oom(exc)
    if oom is not None:
        raise oom from exc


class OnnxRuntimeAdapter:
    """The `onnx` framework of dlbench."""

    name = "onnx"
    optimizations = {"infer": ("none", "script")}
    deployed = {"infer": "script"}
    mode_names = {"none": "ORT unoptimized", "script": "ORT optimized"}

    def __init__(self) -> None:
        self._threads = (0, 0)  # intra, inter; 0 = ORT's default

    def configure_threads(self, intra_op: int, inter_op: int) -> None:
        """Remembered and set on each session's options (ORT has no process-wide setting)."""
        self._threads = (max(0, intra_op), max(0, inter_op))

    def availability(self) -> Availability:
        try:
            _, ort = _import()
        except ImportError as e:
            return Availability(False, reason=f"onnx/onnxruntime is not installed ({e.name})",
                                install=_INSTALL)
        except Exception as e:  # noqa: BLE001 - a broken install is unavailable too
            return Availability(False, reason=f"onnxruntime cannot be imported ({describe(e)})",
                                install=_INSTALL)
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return Availability(True, version=ort.__version__, devices=("cpu", "cuda"))
        return Availability(True, version=ort.__version__, devices=("cpu",),
                            device_reason="onnxruntime has no CUDAExecutionProvider here "
                                          "(install onnxruntime-gpu instead of onnxruntime)")

    def unsupported(self, task: str, optimization: str, device: str,
                    dtype: str = "float32") -> str | None:
        if task != "infer":
            return "ONNX Runtime is inference only"
        if optimization not in self.optimizations["infer"]:
            return (f"ONNX Runtime has no optimization {optimization!r} (none: graph "
                    "optimizations disabled, script: all graph optimizations)")
        if device not in ("cpu", "cuda"):
            return f"onnx does not run on device {device!r}"
        if dtype != "float32":
            return f"the onnx adapter runs float32 only, not {dtype!r}"
        return None

    def run_model_file(self, path: str, feeds: dict[str, np.ndarray], output: str,
                       threads: int = 0) -> tuple[np.ndarray, str]:
        """Run an ONNX file as it is, graph optimizations off, on the CPU: the reference an
        imported model's builds are checked against (suite.equivalence). Returns the output
        and what produced it."""
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.intra_op_num_threads = max(0, int(threads))
        options.log_severity_level = 3
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        out = session.run([output], feeds)[0]
        return out, (f"onnxruntime {ort.__version__} on the original file (graph "
                     "optimizations disabled)")

    def build(self, request: BuildRequest) -> "OrtRunnable":
        require_supported(self, request)
        try:
            return OrtRunnable(request, self._threads)
        except Exception as e:
            _raise_oom(e)
            raise


class OrtRunnable:
    """An InferenceSession with its inputs and output bound."""

    def __init__(self, request: BuildRequest, threads: tuple[int, int]) -> None:
        from frameworks._onnx_graph import OUTPUT, build_onnx, checked_bytes
        _, ort = _import()
        self._ort = ort
        self._model = request.model
        self._cuda = request.device == "cuda"
        self._stream = compute_stream(0) if self._cuda else None
        proto, self._param_count = build_onnx(request.model, request.weights)
        data = checked_bytes(proto)
        del proto  # the session keeps its own copy; drop ours before it is made
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                                   _LEVELS[request.optimization])
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads, options.inter_op_num_threads = threads
        options.log_severity_level = 3  # errors only
        if request.profile_dir:   # --profile's worker only (suite.profiling.collectors)
            options.enable_profiling = True
            options.profile_file_prefix = f"{request.profile_dir}/ort"
        self.session = ort.InferenceSession(data, options,
                                            providers=session_providers(self._stream))
        del data
        self._output_name = OUTPUT
        self._binding: Any = None
        self._bound: list[Any] = []   # OrtValues the binding refers to, kept alive here
        self._stepped = False

    def _ortvalue(self, array: np.ndarray) -> Any:
        if self._cuda:
            return self._ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0)
        return self._ort.OrtValue.ortvalue_from_numpy(array)

    def set_inputs(self, inputs: dict[str, np.ndarray], labels: np.ndarray | None = None) -> None:
        binding = self.session.io_binding()
        bound = []
        batch = 0
        for spec in self._model.inputs:
            dtype = np.int64 if spec.dtype.startswith("int") else np.float32
            array = np.ascontiguousarray(inputs[spec.name], dtype=dtype)
            batch = array.shape[0]
            value = self._ortvalue(array)
            binding.bind_ortvalue_input(spec.name, value)
            bound += [array, value]
        out_shape = (batch, *self._model.shape_of(self._model.output))
        output = self._ortvalue(np.zeros(out_shape, np.float32))
        binding.bind_ortvalue_output(self._output_name, output)
        self._binding, self._bound, self._output = binding, bound, output
        self._stepped = False

    def step(self) -> None:
        try:
            self.session.run_with_iobinding(self._binding)
        except Exception as e:
            _raise_oom(e)
            raise
        self._stepped = True

    def synchronize(self) -> None:
        if self._cuda and self._binding is not None:
            self._binding.synchronize_outputs()
        # On CPU, run_with_iobinding returns after the work has finished.

    def result(self) -> np.ndarray:
        if not self._stepped:
            raise RuntimeError("result() before step()")
        return np.asarray(self._binding.copy_outputs_to_cpu()[0])

    def parameters(self) -> dict[str, np.ndarray]:
        """Not available: ORT does not expose a session's initializers.

        The network is inference-only, so its parameters are the build weights; keeping a
        copy here would add the model's size to the memory dlbench measures for ORT.
        """
        raise NotImplementedError("ONNX Runtime does not expose a session's initializers; "
                                  "an inference session's parameters are its build weights")

    def param_count(self) -> int:
        return self._param_count

    def memory_mib(self) -> dict[str, float]:
        return {}  # ORT has no public allocator statistics

    def stream_handle(self) -> int | None:
        return self._stream  # the session's user compute stream on the GPU, else None
