"""The equivalence check's worker process (`python -m suite.equivalence_worker`).

Reads one JSON request on stdin, writes its reply as JSON to the request's `reply` path and
each output as a .npy file beside it (never on stdout, which frameworks may write to).
role "reference": ONNX Runtime runs the original file, graph optimizations disabled.
role "framework": the adapter builds the imported description with the file's weights
for each requested optimization and runs one inference step, as a sweep's worker builds a
point (threads set before the framework's first import, `synthetic_inputs` for the probe).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any


def _probe(request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The imported model (registered here) and its probe inputs."""
    from suite.models import imported
    from suite.equivalence import PROBE_SEED
    from suite.workerlib import synthetic_inputs
    imported.register_model_files({request["name"]: request["path"]})
    found = imported.lookup(request["name"])
    inputs, _ = synthetic_inputs(found.model, request["items"], PROBE_SEED)
    return found, inputs


def _save(request: dict[str, Any], tag: str, array: Any) -> str:
    import numpy as np
    path = os.path.join(request["dir"], f"{tag}.npy")
    np.save(path, np.asarray(array, dtype=np.float32))
    return path


def reference(request: dict[str, Any]) -> dict[str, Any]:
    """ONNX Runtime on the original file (the onnx adapter's `run_model_file`)."""
    from frameworks import get_adapter
    found, inputs = _probe(request)
    data = inputs["data"]       # (N, C, H, W); a channels-last file reads (N, H, W, C)
    if found.input_layout == "NHWC":
        data = data.transpose(0, 2, 3, 1).copy()
    out, what = get_adapter("onnx").run_model_file(
        found.path, {found.input_name: data}, found.output_name,
        int(request.get("threads") or 0))
    return {"output": _save(request, "reference", out), "reference": what}


def framework(request: dict[str, Any]) -> dict[str, Any]:
    """Each requested optimization of one framework: its output, or why there is none."""
    from frameworks import get_adapter
    from frameworks.base import BuildRequest, describe
    from suite.models.imported import model_weights
    adapter = get_adapter(request["framework"])
    threads = int(request.get("threads") or 0)
    try:
        adapter.configure_threads(threads, 1 if threads else 0)
    except Exception:  # noqa: BLE001 - availability() says why below
        pass
    avail = adapter.availability()
    if not avail.ok:
        skipped = {"status": "skipped", "message": f"{avail.reason} ({avail.install})"}
        return {"results": {opt: skipped for opt in request["optimizations"]}}
    found, inputs = _probe(request)
    results = {}
    for opt in request["optimizations"]:
        reason = adapter.unsupported("infer", opt, "cpu")
        if reason:
            results[opt] = {"status": "skipped", "message": reason}
            continue
        try:
            runnable = adapter.build(BuildRequest(found.model, model_weights(found.model),
                                                  "infer", opt, request["items"]))
            runnable.set_inputs(inputs)
            runnable.step()
            runnable.synchronize()
            out = runnable.result()
            del runnable
        except Exception as e:  # noqa: BLE001 - a failed build is a result
            results[opt] = {"status": "failed", "message": describe(e)}
            continue
        results[opt] = {"status": "ok", "output": _save(request, f"{request['framework']}-{opt}",
                                                         out)}
    return {"results": results}


def main() -> int:
    """Serve one request (see the module docstring)."""
    request = json.loads(sys.stdin.read())
    try:
        reply = reference(request) if request["role"] == "reference" else framework(request)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which decides
        from frameworks.base import describe
        reply = {"error": describe(e)}
    with open(request["reply"], "w") as f:
        json.dump(reply, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
