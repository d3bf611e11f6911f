"""Helpers shared by the adapter tests: an available adapter or a skip, and a built runnable."""
from __future__ import annotations

import pytest

from frameworks import get_adapter
from frameworks.base import BuildRequest

_ADAPTERS: dict = {}


def adapter_or_skip(framework: str):
    """The registry's adapter for `framework`; skips the test, with the install hint, if absent."""
    if framework not in _ADAPTERS:
        _ADAPTERS[framework] = get_adapter(framework)
    a = _ADAPTERS[framework]
    avail = a.availability()
    if not avail.ok:
        pytest.skip(f"{framework} unavailable: {avail.reason} ({avail.install})")
    return a


def run(adapter, model, weights, inputs, opt="none", task="infer", labels=None, steps=1, **kw):
    """Build, bind inputs, run `steps` steps and synchronize."""
    batch = len(next(iter(inputs.values())))
    runnable = adapter.build(BuildRequest(model, weights, task, opt, batch, **kw))
    runnable.set_inputs(inputs, labels)
    for _ in range(steps):
        runnable.step()
    runnable.synchronize()
    return runnable
