"""Environment fingerprint (stored in run.json, printed by `python -m suite env`).

Framework versions come from package metadata, so fingerprinting imports no framework.
"""
from __future__ import annotations

import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import suite
from suite.topology import Topology, format_cpu_list, read_topology

# distribution names whose versions matter to a result
PACKAGES = ("numpy", "scipy", "pandas", "matplotlib", "torch", "tensorflow", "keras",
            "mxnet", "onnx", "onnxruntime", "onnxruntime-gpu", "cupy-cuda12x", "cupy-cuda13x")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_mib() -> float | None:
    """Physical memory (MemTotal) in MiB, or None where /proc/meminfo is not readable."""
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def frequency_info() -> dict[str, Any]:
    """Governor and turbo state where the kernel exposes them (None where not readable)."""
    no_turbo = _read("/sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = _read("/sys/devices/system/cpu/cpufreq/boost")
    turbo = None
    if no_turbo is not None:
        turbo = no_turbo == "0"
    elif boost is not None:
        turbo = boost == "1"
    return {"governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            "turbo": turbo,
            "max_mhz": _khz_to_mhz(_read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))}


def _khz_to_mhz(v: str | None) -> float | None:
    return int(v) / 1000 if v and v.isdigit() else None


def native_status() -> dict[str, Any]:
    """Whether the native extension loads and whether it sees CUDA."""
    try:
        from suite import _native
    except ImportError as e:  # a broken build should be reported, not crash `env`
        return {"native": False, "native_error": str(e), "cuda": False,
                "cuda_reason": "native extension not built"}
    ok = bool(getattr(_native, "cuda_available", lambda: False)())
    reason = "" if ok else getattr(_native, "cuda_unavailable_reason", lambda: "unknown")()
    return {"native": True, "cuda": ok, "cuda_reason": reason}


MIB = 1 << 20
SMI_FIELDS = ("name", "memory.total", "driver_version", "uuid")   # valid on every driver
_SMI_MISSING = {"n/a", "not supported", "unknown error", "insufficient permissions", ""}


def smi_value(text: str) -> str | None:
    """One nvidia-smi CSV field, None where it is a placeholder: "[N/A]", "N/A",
    "[Not Supported]", or any other bracketed note (MIG, vGPU, a GPU needing reset)."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        return None
    return None if value.lower() in _SMI_MISSING else value


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """GPUs from `nvidia-smi --query-gpu=name,memory.total,driver_version,uuid
    --format=csv,noheader,nounits` output; a missing field becomes None, never an error."""
    gpus = []
    for line in text.strip().splitlines():
        parts = line.split(",")
        if len(parts) < len(SMI_FIELDS):
            continue
        # a comma inside the name (the first field) is the only ambiguity: rejoin it
        name = ",".join(parts[:len(parts) - len(SMI_FIELDS) + 1])
        memory, driver, uuid = parts[len(parts) - len(SMI_FIELDS) + 1:]
        gpus.append({"name": smi_value(name), "memory_mib": _float_or_none(smi_value(memory)),
                     "driver": smi_value(driver), "uuid": smi_value(uuid),
                     "cuda_driver": None, "mig": None, "source": "nvidia-smi"})
    return gpus


def cuda_version_text(version: int | None) -> str | None:
    """12040 -> "12.4" (the CUDA driver API version as NVML and cuDriverGetVersion give it)."""
    if not isinstance(version, int) or version <= 0:
        return None
    return f"{version // 1000}.{version % 1000 // 10}"


def gpu_from_nvml(raw: dict[str, Any]) -> dict[str, Any]:
    """One GPU of `_native.nvml_gpus()` in the fingerprint's keys (None where NVML failed)."""
    total = raw.get("memory_total_bytes")
    return {"name": raw.get("name"),
            "memory_mib": round(total / MIB, 1) if isinstance(total, int) and total > 0 else None,
            "driver": raw.get("driver_version"), "uuid": raw.get("uuid"),
            "cuda_driver": cuda_version_text(raw.get("cuda_driver_version")),
            "mig": raw.get("mig_enabled"), "source": "nvml"}


def nvml_gpu_info() -> tuple[list[dict[str, Any]], str]:
    """GPUs from NVML through the native extension, and "" or why NVML is unusable (then
    the list is empty)."""
    try:
        from suite import _native
    except ImportError as e:
        return [], f"native extension not built: {e}"
    reason_of = getattr(_native, "nvml_unavailable_reason", None)
    if reason_of is None:
        return [], "native extension built without NVML facts: rebuild it"
    reason = reason_of()
    if reason:
        return [], reason
    return [gpu_from_nvml(g) for g in _native.nvml_gpus()], ""


def smi_gpu_info() -> list[dict[str, Any]]:
    """GPUs as nvidia-smi reports them (empty without nvidia-smi)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={','.join(SMI_FIELDS)}",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []


def gpu_info() -> list[dict[str, Any]]:
    """GPUs from NVML, else from nvidia-smi (empty without a driver). Keys: name,
    memory_mib, driver, uuid, cuda_driver, mig, source ("nvml" | "nvidia-smi"); any but
    source may be None (e.g. memory on MIG or vGPU), so nothing here raises."""
    gpus, reason = nvml_gpu_info()
    return smi_gpu_info() if reason else gpus


def git_commit() -> str | None:
    root = Path(suite.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def fingerprint(topo: Topology | None = None) -> dict[str, Any]:
    """Everything about this machine and software that a result depends on (the whole
    machine, however few of its CPUs this process may use: `usable_cpus` says which)."""
    part = topo or read_topology()
    topo = part.whole()
    versions = {"python": platform.python_version(), "dlbench": suite.__version__}
    versions.update({p: v for p in PACKAGES if (v := package_version(p))})
    native = native_status()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "physical_cores": topo.physical_cores,
        "logical_cores": topo.logical_cpus,
        "sockets": len(topo.sockets),
        "memory_mib": memory_mib(),
        "siblings": {str(k): v for k, v in topo.sibling_map().items()},
        "numa_nodes": [{"node": n, "cpus": cpus} for n, cpus in sorted(topo.nodes.items())],
        "usable_cpus": format_cpu_list(sorted(c for core in part.cores for c in core.cpus)),
        "frequency": frequency_info(),
        "gpus": gpu_info(),
        "cuda": native["cuda"],
        "cuda_reason": native["cuda_reason"],
        "native": native["native"],
        "versions": versions,
        "git_commit": git_commit(),
    }


HARDWARE_FIELDS = ("cpu_model", "physical_cores", "logical_cores", "sockets", "gpus")


def host_fingerprint(topo: Topology | None = None) -> dict[str, Any]:
    """The short fingerprint every point carries of the host it ran on: its name and the
    hardware that decides a result (`HARDWARE_FIELDS`). Runs whose points come from
    several hosts (`--launcher slurm`) are flagged by compare and the report. The counts
    are the whole node's (never a Slurm task's share of it); `usable_cpus` are the CPUs
    the points could be placed on."""
    part = topo or read_topology()
    topo = part.whole()
    return {"hostname": socket.gethostname(), "cpu_model": cpu_model(),
            "physical_cores": topo.physical_cores, "logical_cores": topo.logical_cpus,
            "sockets": len(topo.sockets),
            "usable_cpus": format_cpu_list(sorted(c for core in part.cores for c in core.cpus)),
            "gpus": [g.get("name") or "unknown GPU" for g in gpu_info()]}


def hardware_key(host: dict[str, Any]) -> str:
    """What makes two hosts the same machine for benchmarking (the name does not)."""
    parts = [str(host.get(k)) for k in HARDWARE_FIELDS]
    return " / ".join(parts)


def framework_status(name: str) -> dict[str, Any]:
    """Availability of one framework, probed in a child process so frameworks never share one."""
    import json
    import sys
    try:
        out = subprocess.run([sys.executable, "-m", "suite.env", name], capture_output=True,
                             text=True, timeout=300)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        return {"ok": False, "reason": f"probe failed: {e}", "install": "", "version": ""}


def _probe(name: str) -> dict[str, Any]:
    from frameworks import get_adapter
    adapter = get_adapter(name)
    a = adapter.availability()
    return {"ok": a.ok, "version": a.version, "reason": a.reason, "install": a.install,
            "devices": list(a.devices), "device_reason": a.device_reason,
            "optimizations": {k: list(v) for k, v in adapter.optimizations.items()}}


if __name__ == "__main__":
    import json
    import os
    import sys
    real_stdout = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # framework chatter goes to stderr, the JSON line to the real stdout
    real_stdout.write(json.dumps(_probe(sys.argv[1])) + "\n")
    real_stdout.flush()
