// Per-process device memory from NVML (libnvidia-ml.so.1, loaded at run time).
#pragma once

#include <cstdint>

namespace dlb::nvml {

// Device memory used by this process on CUDA device `device` (CUDA ordinal, mapped to
// the NVML device by PCI bus id), or -1 when CUDA or NVML is unavailable or the
// driver does not report it. 0 when the process has no context on that device.
int64_t device_process_memory_bytes(int device);

}  // namespace dlb::nvml
