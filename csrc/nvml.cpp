// NVML loaded with dlopen, like the CUDA driver: no headers, a few mirrored types.
// Every symbol past nvmlInit_v2 is optional: a missing one makes its facts unavailable.
#include "nvml.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <type_traits>

#include "cuda_driver.hpp"

namespace dlb::nvml {

namespace {

using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_INSUFFICIENT_SIZE = 7;
constexpr unsigned long long NVML_VALUE_NOT_AVAILABLE = ~0ULL;
constexpr unsigned NVML_DEVICE_MIG_ENABLE = 1;
constexpr unsigned kTextBuffer = 256;  // above NVML's name/uuid/version buffer sizes (<= 96)
constexpr const char* kPrefix = "NVML not available: ";

// nvmlProcessInfo_v2_t: the layout taken by the _v2 and _v3 process queries.
struct ProcessInfo {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
};

// nvmlMemory_t (version 1, taken by nvmlDeviceGetMemoryInfo), bytes.
struct MemoryInfo {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
};

struct Nvml {
    nvmlReturn_t (*init)() = nullptr;  // nvmlInit_v2
    const char* (*error_string)(nvmlReturn_t) = nullptr;
    nvmlReturn_t (*handle_by_pci)(const char*, nvmlDevice_t*) = nullptr;
    nvmlReturn_t (*compute_processes)(nvmlDevice_t, unsigned int*, ProcessInfo*) = nullptr;
    nvmlReturn_t (*device_count)(unsigned int*) = nullptr;  // nvmlDeviceGetCount_v2
    nvmlReturn_t (*handle_by_index)(unsigned int, nvmlDevice_t*) = nullptr;
    nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int) = nullptr;
    nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned int) = nullptr;
    nvmlReturn_t (*memory_info)(nvmlDevice_t, MemoryInfo*) = nullptr;
    nvmlReturn_t (*mig_mode)(nvmlDevice_t, unsigned int*, unsigned int*) = nullptr;
    nvmlReturn_t (*driver_version)(char*, unsigned int) = nullptr;
    nvmlReturn_t (*cuda_driver_version)(int*) = nullptr;
    nvmlReturn_t (*total_energy)(nvmlDevice_t, unsigned long long*) = nullptr;
    std::string unavailable_reason;  // empty when usable
};

std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

std::string error_text(const Nvml& n, nvmlReturn_t r) {
    const char* text = n.error_string != nullptr ? n.error_string(r) : nullptr;
    return std::string(text != nullptr ? text : "NVML error") + " (NVML error " +
           std::to_string(r) + ")";
}

template <typename Fn>
void bind(void* lib, Fn& fn, const char* name, const char* fallback = nullptr) {
    void* symbol = dlsym(lib, name);
    if (symbol == nullptr && fallback != nullptr) symbol = dlsym(lib, fallback);
    fn = reinterpret_cast<std::remove_reference_t<Fn>>(symbol);
}

Nvml load() {
    Nvml n;
    dlerror();  // clear any stale error
    // Never closed, and nvmlShutdown is never called: NVML init is reference counted
    // process-wide and other libraries (e.g. PyTorch) may share it.
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        const char* error = dlerror();
        const std::string text = error != nullptr ? error : "unknown dlopen error";
        n.unavailable_reason =
            text.find("No such file") != std::string::npos
                ? std::string(kPrefix) + "libnvidia-ml.so.1 not found (no NVIDIA driver)"
                : one_line(std::string(kPrefix) + "cannot load libnvidia-ml.so.1: " + text);
        return n;
    }
    bind(lib, n.init, "nvmlInit_v2");
    bind(lib, n.error_string, "nvmlErrorString");
    bind(lib, n.handle_by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    bind(lib, n.compute_processes, "nvmlDeviceGetComputeRunningProcesses_v3",
         "nvmlDeviceGetComputeRunningProcesses_v2");
    bind(lib, n.device_count, "nvmlDeviceGetCount_v2");
    bind(lib, n.handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
    bind(lib, n.name, "nvmlDeviceGetName");
    bind(lib, n.uuid, "nvmlDeviceGetUUID");
    bind(lib, n.memory_info, "nvmlDeviceGetMemoryInfo");
    bind(lib, n.mig_mode, "nvmlDeviceGetMigMode");
    bind(lib, n.driver_version, "nvmlSystemGetDriverVersion");
    bind(lib, n.cuda_driver_version, "nvmlSystemGetCudaDriverVersion_v2",
         "nvmlSystemGetCudaDriverVersion");
    bind(lib, n.total_energy, "nvmlDeviceGetTotalEnergyConsumption");
    if (n.init == nullptr) {
        n.unavailable_reason = std::string(kPrefix) + "nvmlInit_v2 missing from libnvidia-ml.so.1";
        return n;
    }
    const nvmlReturn_t r = n.init();
    if (r != NVML_SUCCESS) {
        n.unavailable_reason = std::string(kPrefix) + "nvmlInit_v2 failed: " + error_text(n, r);
    }
    return n;
}

const Nvml& nvml() {
    static const Nvml instance = load();
    return instance;
}

bool usable() { return nvml().unavailable_reason.empty(); }

// NVML orders devices by PCI bus, CUDA by speed and CUDA_VISIBLE_DEVICES: map by bus id.
nvmlDevice_t handle_for_cuda_device(int device) {
    const auto& d = cuda::driver();
    if (!cuda::available() || device < 0 || device >= d.device_count ||
        nvml().handle_by_pci == nullptr) {
        return nullptr;
    }
    cuda::CUdevice dev = 0;
    char bus_id[64] = {};
    if (d.cuDeviceGet(&dev, device) != cuda::CUDA_SUCCESS ||
        d.cuDeviceGetPCIBusId(bus_id, sizeof bus_id, dev) != cuda::CUDA_SUCCESS) {
        return nullptr;
    }
    nvmlDevice_t handle = nullptr;
    return nvml().handle_by_pci(bus_id, &handle) == NVML_SUCCESS ? handle : nullptr;
}

// The text a (handle, buffer, length) query writes, or empty when it fails or is missing.
template <typename Query, typename... Args>
std::optional<std::string> text_query(Query query, Args... args) {
    if (query == nullptr) return std::nullopt;
    char buffer[kTextBuffer] = {};
    if (query(args..., buffer, kTextBuffer) != NVML_SUCCESS) return std::nullopt;
    buffer[kTextBuffer - 1] = '\0';
    return std::string(buffer);
}

GpuFacts facts_of(unsigned index, nvmlDevice_t handle) {
    const auto& n = nvml();
    GpuFacts g;
    g.index = index;
    g.name = text_query(n.name, handle);
    g.uuid = text_query(n.uuid, handle);
    MemoryInfo memory{};
    if (n.memory_info != nullptr && n.memory_info(handle, &memory) == NVML_SUCCESS &&
        memory.total != NVML_VALUE_NOT_AVAILABLE && memory.total > 0) {
        g.memory_total_bytes = memory.total;
    }
    unsigned current = 0, pending = 0;
    if (n.mig_mode != nullptr && n.mig_mode(handle, &current, &pending) == NVML_SUCCESS) {
        g.mig_enabled = current == NVML_DEVICE_MIG_ENABLE;
    }
    return g;
}

}  // namespace

std::string unavailable_reason() { return nvml().unavailable_reason; }

int64_t device_process_memory_bytes(int device) {
    if (!usable() || nvml().compute_processes == nullptr) return -1;
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

std::vector<GpuFacts> gpus() {
    std::vector<GpuFacts> out;
    const auto& n = nvml();
    unsigned count = 0;
    if (!usable() || n.device_count == nullptr || n.handle_by_index == nullptr ||
        n.device_count(&count) != NVML_SUCCESS) {
        return out;
    }
    for (unsigned i = 0; i < count; ++i) {
        nvmlDevice_t handle = nullptr;
        if (n.handle_by_index(i, &handle) == NVML_SUCCESS) {
            out.push_back(facts_of(i, handle));
        } else {  // e.g. a GPU NVML may not touch: listed, with nothing known
            GpuFacts unknown;
            unknown.index = i;
            out.push_back(unknown);
        }
    }
    return out;
}

SystemFacts system() {
    SystemFacts s;
    if (!usable()) return s;
    const auto& n = nvml();
    s.driver_version = text_query(n.driver_version);
    int version = 0;
    if (n.cuda_driver_version != nullptr && n.cuda_driver_version(&version) == NVML_SUCCESS) {
        s.cuda_driver_version = version;
    }
    return s;
}

EnergyReading total_energy(int device) {
    EnergyReading e;
    const auto& n = nvml();
    if (!usable()) {
        e.reason = n.unavailable_reason;
        return e;
    }
    if (n.total_energy == nullptr) {
        e.reason = "this NVML has no nvmlDeviceGetTotalEnergyConsumption (driver too old)";
        return e;
    }
    if (!cuda::available()) {
        e.reason = cuda::driver().unavailable_reason;
        return e;
    }
    nvmlDevice_t handle = handle_for_cuda_device(device);
    if (handle == nullptr) {
        e.reason = "no NVML device for CUDA device " + std::to_string(device);
        return e;
    }
    unsigned long long millijoules = 0;
    const nvmlReturn_t r = n.total_energy(handle, &millijoules);
    if (r != NVML_SUCCESS) {
        e.reason = "nvmlDeviceGetTotalEnergyConsumption failed on CUDA device " +
                   std::to_string(device) + ": " + error_text(n, r) +
                   (r == NVML_ERROR_NOT_SUPPORTED ? " (the counter needs Volta or later)" : "");
        return e;
    }
    e.millijoules = static_cast<int64_t>(millijoules);
    return e;
}

}  // namespace dlb::nvml
