"""CI cannot pass by skipping: a framework required by DLBENCH_REQUIRE_FRAMEWORKS (.ci/run
requires all of them) must import here, and its tests fail instead of skipping when not."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapter_helpers import REQUIRE_ENV, required_frameworks
from suite.env import framework_status

TESTS = Path(__file__).resolve().parent
REQUIRED = sorted(required_frameworks())


@pytest.mark.parametrize("framework", REQUIRED or [pytest.param(
    None, marks=pytest.mark.skip(reason=f"{REQUIRE_ENV} is not set: no framework required"))])
@pytest.mark.slow
def test_required_framework_is_available(framework):
    status = framework_status(framework)      # probed in a child process, as `env` does
    assert status["ok"], f"{framework}: {status['reason']} (install: {status['install']})"


PROBE = """
from adapter_helpers import import_or_skip, skip_or_fail

def test_unavailable_framework():
    skip_or_fail("mxnet", "mxnet unavailable: not installed")

def test_framework_that_does_not_import():
    import_or_skip("dlbench_no_such_module", "onnx", "pip install it")
"""


@pytest.mark.parametrize("required,outcome", [
    ("", "2 skipped"), ("pytorch", "2 skipped"), ("mxnet", "1 failed, 1 skipped"),
    ("mxnet,onnx", "2 failed"), ("all", "2 failed"), ("onnxruntime", "1 failed, 1 skipped"),
])
def test_unavailable_framework_fails_only_where_required(tmp_path, required, outcome):
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS),
                                                       os.environ.get("PYTHONPATH", "")]))
    env[REQUIRE_ENV] = required
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == (1 if "failed" in outcome else 0), r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith(outcome), r.stdout
    if "failed" in outcome:
        assert f"is required here ({REQUIRE_ENV}) but unavailable" in r.stdout
