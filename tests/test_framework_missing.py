"""A framework that cannot be imported: its points are skipped with the install command,
through a real worker (CONTRACT §10), never "worker crashed"."""
from __future__ import annotations

import os
import subprocess
import sys

from suite.storage import load_measurements


def test_an_unimportable_framework_is_skipped_with_the_install_command(tmp_path):
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch made unimportable here')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "suite", "infer", "--frameworks", "pytorch",
                        "--models", "resnet18", "--batches", "1", "--image-size", "32",
                        "--threads", "1", "--processes", "1", "--out", str(out), "--quiet",
                        "--no-report"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    [m] = load_measurements(out)
    assert m.status == "skipped", (m.status, m.message)
    assert "torch is not installed" in m.message and "pip install torch" in m.message
