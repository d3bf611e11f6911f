// NVML (libnvidia-ml.so.1, loaded at run time): per-process device memory, the GPUs'
// facts for the environment fingerprint, and the total-energy counter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlb::nvml {

// One line saying why NVML is unusable ("" when libnvidia-ml.so.1 loaded and
// nvmlInit_v2 succeeded).
std::string unavailable_reason();

// Device memory used by this process on CUDA device `device` (CUDA ordinal, mapped to
// the NVML device by PCI bus id), or -1 when CUDA or NVML is unavailable or the
// driver does not report it. 0 when the process has no context on that device.
int64_t device_process_memory_bytes(int device);

// What NVML says of one GPU; a field whose query failed (e.g. memory on some MIG or
// vGPU setups, a symbol an old driver lacks) is empty, never an error.
struct GpuFacts {
    unsigned index = 0;  // NVML index: PCI bus order, not CUDA's order
    std::optional<std::string> name;
    std::optional<std::string> uuid;
    std::optional<uint64_t> memory_total_bytes;
    std::optional<bool> mig_enabled;  // the current MIG mode
};

struct SystemFacts {
    std::optional<std::string> driver_version;  // e.g. "550.54.15"
    std::optional<int> cuda_driver_version;     // e.g. 12040 for 12.4
};

// Every GPU NVML sees (empty without NVML, or when the device count fails).
std::vector<GpuFacts> gpus();

// The driver's versions (both empty without NVML).
SystemFacts system();

// NVML's total-energy counter of CUDA device `device` (millijoules since the driver
// loaded; Volta and later), or millijoules = -1 and the reason it cannot be read.
struct EnergyReading {
    int64_t millijoules = -1;
    std::string reason;
};
EnergyReading total_energy(int device);

}  // namespace dlb::nvml
