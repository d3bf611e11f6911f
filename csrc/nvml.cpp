// NVML loaded with dlopen, like the CUDA driver: no headers, a few mirrored types.
#include "nvml.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <vector>

#include "cuda_driver.hpp"

namespace dlb::nvml {

namespace {

using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_INSUFFICIENT_SIZE = 7;
constexpr unsigned long long NVML_VALUE_NOT_AVAILABLE = ~0ULL;

// nvmlProcessInfo_v2_t: the layout taken by the _v2 and _v3 process queries.
struct ProcessInfo {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
};

struct Nvml {
    nvmlReturn_t (*init)() = nullptr;  // nvmlInit_v2
    nvmlReturn_t (*handle_by_pci)(const char*, nvmlDevice_t*) = nullptr;
    nvmlReturn_t (*compute_processes)(nvmlDevice_t, unsigned int*, ProcessInfo*) = nullptr;
    bool ok = false;
};

Nvml load() {
    Nvml n;
    // Never closed, and nvmlShutdown is never called: NVML init is reference counted
    // process-wide and other libraries (e.g. PyTorch) may share it.
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return n;
    n.init = reinterpret_cast<decltype(n.init)>(dlsym(lib, "nvmlInit_v2"));
    n.handle_by_pci = reinterpret_cast<decltype(n.handle_by_pci)>(
        dlsym(lib, "nvmlDeviceGetHandleByPciBusId_v2"));
    void* procs = dlsym(lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (procs == nullptr) procs = dlsym(lib, "nvmlDeviceGetComputeRunningProcesses_v2");
    n.compute_processes = reinterpret_cast<decltype(n.compute_processes)>(procs);
    n.ok = n.init != nullptr && n.handle_by_pci != nullptr && n.compute_processes != nullptr &&
           n.init() == NVML_SUCCESS;
    return n;
}

const Nvml& nvml() {
    static const Nvml instance = load();
    return instance;
}

// NVML orders devices by PCI bus, CUDA by speed and CUDA_VISIBLE_DEVICES: map by bus id.
nvmlDevice_t handle_for_cuda_device(int device) {
    const auto& d = cuda::driver();
    if (!cuda::available() || device < 0 || device >= d.device_count) return nullptr;
    cuda::CUdevice dev = 0;
    char bus_id[64] = {};
    if (d.cuDeviceGet(&dev, device) != cuda::CUDA_SUCCESS ||
        d.cuDeviceGetPCIBusId(bus_id, sizeof bus_id, dev) != cuda::CUDA_SUCCESS) {
        return nullptr;
    }
    nvmlDevice_t handle = nullptr;
    return nvml().handle_by_pci(bus_id, &handle) == NVML_SUCCESS ? handle : nullptr;
}

}  // namespace

int64_t device_process_memory_bytes(int device) {
    if (!nvml().ok) return -1;
    nvmlDevice_t handle = handle_for_cuda_device(device);
    if (handle == nullptr) return -1;
    // The process list can grow between the two calls: retry with the new count.
    std::vector<ProcessInfo> infos;
    unsigned int count = 0;
    nvmlReturn_t r = NVML_ERROR_INSUFFICIENT_SIZE;
    for (int attempt = 0; attempt < 4 && r == NVML_ERROR_INSUFFICIENT_SIZE; ++attempt) {
        infos.resize(count + 8);
        count = static_cast<unsigned int>(infos.size());
        r = nvml().compute_processes(handle, &count, infos.data());
    }
    if (r != NVML_SUCCESS) return -1;
    // Note: inside a PID namespace (containers) NVML reports host PIDs, so this process
    // may not be found and 0 is returned.
    const auto self = static_cast<unsigned int>(getpid());
    for (unsigned int i = 0; i < count; ++i) {
        if (infos[i].pid != self) continue;
        const unsigned long long used = infos[i].usedGpuMemory;
        return used == NVML_VALUE_NOT_AVAILABLE ? -1 : static_cast<int64_t>(used);
    }
    return 0;
}

}  // namespace dlb::nvml
