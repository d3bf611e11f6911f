// Run-time loading of libcuda.so.1 and the small context helpers built on it.
#include "cuda_driver.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace dlb::cuda {

namespace {

constexpr const char* kLibrary = "libcuda.so.1";
constexpr const char* kPrefix = "CUDA not available: ";

std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

std::string dlopen_failure(const char* error) {
    const std::string text = error != nullptr ? error : "unknown dlopen error";
    if (text.find("No such file") != std::string::npos) {
        return std::string(kPrefix) + kLibrary + " not found (no NVIDIA driver)";
    }
    return one_line(std::string(kPrefix) + "cannot load " + kLibrary + ": " + text);
}

std::string error_text(const Driver& d, CUresult result) {
    const char* name = nullptr;
    if (d.cuGetErrorName == nullptr || d.cuGetErrorName(result, &name) != CUDA_SUCCESS ||
        name == nullptr) {
        name = "CUDA error";
    }
    return std::string(name) + " (" + std::to_string(result) + ")";
}

// Resolves every symbol; returns the first missing name ("" when all were found).
std::string bind_symbols(void* lib, Driver& d) {
    std::string missing;
    auto bind = [&](auto& fn, const char* name) {
        void* symbol = dlsym(lib, name);
        if (symbol == nullptr && missing.empty()) missing = name;
        fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(symbol);
    };
    bind(d.cuInit, "cuInit");
    bind(d.cuDriverGetVersion, "cuDriverGetVersion");
    bind(d.cuDeviceGetCount, "cuDeviceGetCount");
    bind(d.cuDeviceGet, "cuDeviceGet");
    bind(d.cuDeviceGetName, "cuDeviceGetName");
    bind(d.cuDeviceGetPCIBusId, "cuDeviceGetPCIBusId");
    bind(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    bind(d.cuCtxGetCurrent, "cuCtxGetCurrent");
    bind(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    bind(d.cuCtxPushCurrent, "cuCtxPushCurrent_v2");
    bind(d.cuCtxPopCurrent, "cuCtxPopCurrent_v2");
    bind(d.cuStreamCreate, "cuStreamCreate");
    bind(d.cuEventCreate, "cuEventCreate");
    bind(d.cuEventRecord, "cuEventRecord");
    bind(d.cuEventSynchronize, "cuEventSynchronize");
    bind(d.cuEventDestroy, "cuEventDestroy_v2");
    bind(d.cuMemGetInfo, "cuMemGetInfo_v2");
    // cuEventElapsedTime_v2 appeared in CUDA 12.8 (same signature); older drivers only
    // export the original name.
    void* elapsed = dlsym(lib, "cuEventElapsedTime_v2");
    if (elapsed == nullptr) elapsed = dlsym(lib, "cuEventElapsedTime");
    if (elapsed == nullptr && missing.empty()) missing = "cuEventElapsedTime";
    d.cuEventElapsedTime = reinterpret_cast<decltype(d.cuEventElapsedTime)>(elapsed);
    d.cuGetErrorName = reinterpret_cast<decltype(d.cuGetErrorName)>(dlsym(lib, "cuGetErrorName"));
    return missing;
}

Driver load() {
    Driver d;
    dlerror();  // clear any stale error
    // RTLD_LOCAL: keep the driver's symbols out of the global namespace. The handle is
    // never closed: contexts and events may be released during interpreter shutdown.
    void* lib = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        d.unavailable_reason = dlopen_failure(dlerror());
        return d;
    }
    const std::string missing = bind_symbols(lib, d);
    if (!missing.empty()) {
        d.unavailable_reason = std::string(kPrefix) + kLibrary + " lacks " + missing +
                               " (driver too old)";
        return d;
    }
    if (const CUresult r = d.cuInit(0); r != CUDA_SUCCESS) {
        d.unavailable_reason = std::string(kPrefix) + "cuInit failed: " + error_text(d, r);
        return d;
    }
    if (const CUresult r = d.cuDeviceGetCount(&d.device_count); r != CUDA_SUCCESS) {
        d.unavailable_reason =
            std::string(kPrefix) + "cuDeviceGetCount failed: " + error_text(d, r);
    } else if (d.device_count == 0) {
        d.unavailable_reason = std::string(kPrefix) + "no CUDA device visible";
    }
    return d;
}

void check_device(const Driver& d, int device) {
    if (device < 0 || device >= d.device_count) {
        throw std::invalid_argument("CUDA device " + std::to_string(device) +
                                    " out of range: " + std::to_string(d.device_count) +
                                    " device(s) visible");
    }
}

}  // namespace

const Driver& driver() {
    static const Driver instance = load();  // C++11 magic static: loaded exactly once
    return instance;
}

const Driver& require() {
    const Driver& d = driver();
    if (!d.unavailable_reason.empty()) throw std::runtime_error(d.unavailable_reason);
    return d;
}

void check(CUresult result, const char* what) {
    if (result == CUDA_SUCCESS) return;
    throw std::runtime_error(std::string(what) + " failed: " + error_text(driver(), result));
}

CUcontext primary_context(int device) {
    const Driver& d = require();
    check_device(d, device);
    // Retained once and deliberately never released: like the CUDA runtime, the
    // primary context lives as long as the process.
    static std::mutex mutex;
    static std::vector<CUcontext> contexts(static_cast<size_t>(d.device_count), nullptr);
    std::lock_guard<std::mutex> lock(mutex);
    CUcontext& ctx = contexts[static_cast<size_t>(device)];
    if (ctx == nullptr) {
        CUdevice dev = 0;
        check(d.cuDeviceGet(&dev, device), "cuDeviceGet");
        check(d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
    }
    return ctx;
}

ContextGuard::ContextGuard(CUcontext ctx) {
    const Driver& d = require();
    CUcontext current = nullptr;
    check(d.cuCtxGetCurrent(&current), "cuCtxGetCurrent");
    if (current == ctx) return;
    check(d.cuCtxPushCurrent(ctx), "cuCtxPushCurrent_v2");
    pushed_ = true;
}

ContextGuard::~ContextGuard() {
    if (!pushed_) return;
    CUcontext popped = nullptr;
    driver().cuCtxPopCurrent(&popped);  // a destructor must not throw; nothing to recover
}

int device_count() { return require().device_count; }

int driver_version() {
    int version = 0;
    check(require().cuDriverGetVersion(&version), "cuDriverGetVersion");
    return version;
}

std::string device_name(int device) {
    const Driver& d = require();
    check_device(d, device);
    CUdevice dev = 0;
    check(d.cuDeviceGet(&dev, device), "cuDeviceGet");
    char name[256] = {};
    check(d.cuDeviceGetName(name, sizeof name, dev), "cuDeviceGetName");
    return name;
}

int64_t device_memory_used_bytes(int device) {
    ContextGuard guard(primary_context(device));
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    check(require().cuMemGetInfo(&free_bytes, &total_bytes), "cuMemGetInfo_v2");
    return static_cast<int64_t>(total_bytes - free_bytes);
}

uintptr_t stream_create(int device, bool non_blocking) {
    ContextGuard guard(primary_context(device));
    CUstream stream = nullptr;
    check(require().cuStreamCreate(&stream,
                                   non_blocking ? CU_STREAM_NON_BLOCKING : CU_STREAM_DEFAULT),
          "cuStreamCreate");
    return reinterpret_cast<uintptr_t>(stream);
}

}  // namespace dlb::cuda
