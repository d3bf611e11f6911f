"""GPU facts for the fingerprint: NVML through the native extension, nvidia-smi as the
fallback, and every field allowed to be missing (MIG, vGPU) without breaking a sweep."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from suite import _native, env

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30

SMI_OUTPUT = """\
NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-0a1b2c3d-0000-1111-2222-333344445555
NVIDIA A100-SXM4-40GB, [N/A], 550.54.15, GPU-9f8e7d6c-0000-1111-2222-333344445555
GRID A100D-4C, N/A, [Not Supported], [N/A]
Quadro RTX 8000, Mobile, 46080, 535.00, GPU-abc
"""

MIG_DEVICE = {"index": 0, "name": "NVIDIA A100-SXM4-40GB", "uuid": None,
              "memory_total_bytes": None, "mig_enabled": True,
              "driver_version": "550.54.15", "cuda_driver_version": 12040}


def test_nvidia_smi_placeholders_become_none():
    gpus = env.parse_nvidia_smi(SMI_OUTPUT)
    assert [g["name"] for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB",
                                         "GRID A100D-4C", "Quadro RTX 8000, Mobile"]
    assert [g["memory_mib"] for g in gpus] == [81559.0, None, None, 46080.0]
    assert [g["driver"] for g in gpus] == ["550.54.15", "550.54.15", None, "535.00"]
    assert gpus[2]["uuid"] is None and gpus[3]["uuid"] == "GPU-abc"
    assert {g["source"] for g in gpus} == {"nvidia-smi"}


def test_nvidia_smi_skips_lines_that_are_not_records():
    assert env.parse_nvidia_smi("No devices were found\n") == []
    assert env.parse_nvidia_smi("") == []


@pytest.mark.parametrize("text", ["[N/A]", "N/A", "[Not Supported]", " [Unknown Error] ", ""])
def test_smi_value_placeholders(text):
    assert env.smi_value(text) is None


def fake_nvml(monkeypatch, devices: list[dict], reason: str = "") -> None:
    monkeypatch.setattr(_native, "nvml_unavailable_reason", lambda: reason)
    monkeypatch.setattr(_native, "nvml_gpus", lambda: [dict(d) for d in devices])


def test_a_mig_device_without_memory_keeps_the_fingerprint_working(monkeypatch):
    whole = dict(MIG_DEVICE, index=1, name="NVIDIA H200", uuid="GPU-1",
                 memory_total_bytes=141 * GIB, mig_enabled=False)
    fake_nvml(monkeypatch, [MIG_DEVICE, whole])
    gpus = env.gpu_info()
    assert gpus[0] == {"name": "NVIDIA A100-SXM4-40GB", "memory_mib": None,
                       "driver": "550.54.15", "uuid": None, "cuda_driver": "12.4",
                       "mig": True, "source": "nvml"}
    assert gpus[1]["memory_mib"] == 141 * 1024.0 and gpus[1]["mig"] is False
    fp = env.fingerprint()
    assert fp["gpus"] == gpus
    json.dumps(fp, allow_nan=False)
    host = env.host_fingerprint()
    assert host["gpus"] == ["NVIDIA A100-SXM4-40GB", "NVIDIA H200"]
    assert "NVIDIA H200" in env.hardware_key(host)


def test_a_device_nvml_knows_nothing_about_is_listed_with_nones(monkeypatch):
    fake_nvml(monkeypatch, [{"index": 0, "name": None, "uuid": None,
                             "memory_total_bytes": None, "mig_enabled": None,
                             "driver_version": None, "cuda_driver_version": None}])
    gpu, = env.gpu_info()
    assert gpu["name"] is None and gpu["memory_mib"] is None and gpu["cuda_driver"] is None
    assert env.host_fingerprint()["gpus"] == ["unknown GPU"]


def test_without_nvml_nvidia_smi_is_parsed(monkeypatch):
    fake_nvml(monkeypatch, [MIG_DEVICE], reason="NVML not available: no driver")
    real_run = subprocess.run
    calls = []

    def run(cmd, *args, **kwargs):
        if cmd[0] != "nvidia-smi":
            return real_run(cmd, *args, **kwargs)
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, SMI_OUTPUT, "")
    monkeypatch.setattr(env.subprocess, "run", run)
    gpus = env.gpu_info()
    assert calls and "--query-gpu=name,memory.total,driver_version,uuid" in calls[0]
    assert [g["memory_mib"] for g in gpus] == [81559.0, None, None, 46080.0]
    env.fingerprint()


def test_this_machine_without_nvml_has_an_empty_list_and_a_reason():
    if _native.nvml_unavailable_reason() == "":
        pytest.skip("NVML is available here")
    assert _native.nvml_gpus() == []
    assert _native.nvml_unavailable_reason().startswith("NVML not available: ")
    gpus, reason = env.nvml_gpu_info()
    assert gpus == [] and reason == _native.nvml_unavailable_reason()


def test_cuda_version_text():
    assert env.cuda_version_text(12040) == "12.4"
    assert env.cuda_version_text(11080) == "11.8"
    assert env.cuda_version_text(None) is None


# ------------------------------------------------ the native code against a fake NVML

FAKE_NVML = r"""
#include <stdio.h>
struct dev { unsigned index; };
typedef struct dev* nvmlDevice_t;
static struct dev devices[2] = {{0}, {1}};
int nvmlInit_v2(void) { return INIT_RESULT; }
const char* nvmlErrorString(int r) { return r == 9 ? "Driver Not Loaded" : "Not Supported"; }
int nvmlDeviceGetCount_v2(unsigned* n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t* h) {
    if (i > 1) return 2;
    *h = &devices[i];
    return 0;
}
int nvmlDeviceGetName(nvmlDevice_t d, char* b, unsigned n) {
    snprintf(b, n, "%s", d->index ? "NVIDIA A100-SXM4-40GB" : "NVIDIA H200");
    return 0;
}
int nvmlDeviceGetUUID(nvmlDevice_t d, char* b, unsigned n) {
    if (d->index == 1) return 3;                 /* Not Supported */
    snprintf(b, n, "GPU-0000");
    return 0;
}
int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, unsigned long long* m) {
    if (d->index == 1) return 3;                 /* MIG: not available on the parent */
    m[0] = 141ULL << 30; m[1] = 140ULL << 30; m[2] = 1ULL << 30;
    return 0;
}
int nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned* current, unsigned* pending) {
    *current = *pending = d->index;
    return 0;
}
int nvmlSystemGetDriverVersion(char* b, unsigned n) { snprintf(b, n, "550.54.15"); return 0; }
/* no nvmlSystemGetCudaDriverVersion*: an old driver's missing symbol */
"""

PROBE = """
    import json
    from suite import _native as n
    from suite import env
    print(json.dumps({"reason": n.nvml_unavailable_reason(), "raw": n.nvml_gpus(),
                      "gpus": env.gpu_info(), "fingerprint": env.fingerprint()["gpus"],
                      "energy": n.nvml_total_energy_mj(0)}))
"""


def fake_nvml_library(tmp_path: Path, init_result: int) -> Path:
    """libnvidia-ml.so.1 built from FAKE_NVML into its own folder."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a fake libnvidia-ml.so.1")
    folder = tmp_path / f"nvml{init_result}"
    folder.mkdir()
    source = folder / "fake_nvml.c"
    source.write_text(FAKE_NVML)
    subprocess.run([cc, "-shared", "-fPIC", f"-DINIT_RESULT={init_result}", "-o",
                    str(folder / "libnvidia-ml.so.1"), str(source)], check=True,
                   capture_output=True, timeout=60)
    return folder


def probe_with(folder: Path) -> dict:
    path = os.environ.get("PATH", "")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE)], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
        env={**os.environ, "LD_LIBRARY_PATH": str(folder),
             # no nvidia-smi either: the fallback must find nothing, not this machine's
             "PATH": os.pathsep.join(p for p in path.split(os.pathsep)
                                     if not (Path(p) / "nvidia-smi").exists())})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_native_nvml_facts_with_failing_fields(tmp_path):
    out = probe_with(fake_nvml_library(tmp_path, init_result=0))
    assert out["reason"] == ""
    h200, mig = out["raw"]
    assert h200 == {"index": 0, "name": "NVIDIA H200", "uuid": "GPU-0000",
                    "memory_total_bytes": 141 * GIB, "mig_enabled": False,
                    "driver_version": "550.54.15", "cuda_driver_version": None}
    assert mig["index"] == 1 and mig["name"] == "NVIDIA A100-SXM4-40GB"
    assert mig["uuid"] is None and mig["memory_total_bytes"] is None
    assert mig["mig_enabled"] is True
    assert [g["memory_mib"] for g in out["gpus"]] == [141 * 1024.0, None]
    assert {g["source"] for g in out["gpus"]} == {"nvml"}
    assert out["fingerprint"] == out["gpus"]
    millijoules, reason = out["energy"]           # no energy symbol in this NVML
    assert millijoules == -1 and reason


def test_native_nvml_init_failure_is_a_reason(tmp_path):
    out = probe_with(fake_nvml_library(tmp_path, init_result=9))
    assert out["reason"] == ("NVML not available: nvmlInit_v2 failed: Driver Not Loaded "
                             "(NVML error 9)")
    assert out["raw"] == [] and out["gpus"] == [] and out["fingerprint"] == []
    assert out["energy"] == [-1, out["reason"]]
