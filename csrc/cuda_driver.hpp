// The CUDA driver API, loaded at run time with dlopen("libcuda.so.1").
// No CUDA headers are used: the few types below mirror cuda.h (ABI-stable since CUDA 4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dlb::cuda {

using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st*;
using CUstream = struct CUstream_st*;
using CUevent = struct CUevent_st*;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NOT_READY = 600;
constexpr unsigned CU_EVENT_DEFAULT = 0;  // timing enabled, spin-wait synchronisation
constexpr unsigned CU_STREAM_DEFAULT = 0;       // synchronises with the legacy stream 0
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;  // runs concurrently with stream 0

// Function pointers resolved from libcuda.so.1. Names are the ones cuda.h maps the
// plain API names to (the _v2 variants where they exist).
struct Driver {
    CUresult (*cuInit)(unsigned) = nullptr;
    CUresult (*cuDriverGetVersion)(int*) = nullptr;
    CUresult (*cuDeviceGetCount)(int*) = nullptr;
    CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
    CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
    CUresult (*cuDeviceGetPCIBusId)(char*, int, CUdevice) = nullptr;
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
    CUresult (*cuCtxGetCurrent)(CUcontext*) = nullptr;
    CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
    CUresult (*cuCtxPushCurrent)(CUcontext) = nullptr;   // cuCtxPushCurrent_v2
    CUresult (*cuCtxPopCurrent)(CUcontext*) = nullptr;   // cuCtxPopCurrent_v2
    CUresult (*cuStreamCreate)(CUstream*, unsigned) = nullptr;
    CUresult (*cuEventCreate)(CUevent*, unsigned) = nullptr;
    CUresult (*cuEventRecord)(CUevent, CUstream) = nullptr;
    CUresult (*cuEventSynchronize)(CUevent) = nullptr;
    CUresult (*cuEventElapsedTime)(float*, CUevent, CUevent) = nullptr;  // _v2 if present
    CUresult (*cuEventDestroy)(CUevent) = nullptr;       // cuEventDestroy_v2
    CUresult (*cuMemGetInfo)(size_t*, size_t*) = nullptr;  // cuMemGetInfo_v2
    CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;  // optional

    int device_count = 0;
    std::string unavailable_reason;  // empty when usable
};

// Loads and initialises the driver once (thread-safe); never throws.
const Driver& driver();

inline bool available() { return driver().unavailable_reason.empty(); }

// The driver, or a std::runtime_error carrying the one-line unavailability reason.
const Driver& require();

// Throws std::runtime_error("<what> failed: CUDA_ERROR_... (code)") unless CUDA_SUCCESS.
void check(CUresult result, const char* what);

// The device's primary context (the one the CUDA runtime, PyTorch and CuPy use),
// retained once per process and cached. Throws std::invalid_argument on a bad ordinal.
CUcontext primary_context(int device);

// Makes `ctx` current on the calling thread for the guard's lifetime (push/pop),
// doing nothing when it already is current (the usual case under PyTorch/CuPy).
class ContextGuard {
public:
    explicit ContextGuard(CUcontext ctx);
    ~ContextGuard();
    ContextGuard(const ContextGuard&) = delete;
    ContextGuard& operator=(const ContextGuard&) = delete;

private:
    bool pushed_ = false;
};

// Python stream handles are integers (torch: stream.cuda_stream, cupy: stream.ptr).
inline CUstream to_stream(uintptr_t handle) { return reinterpret_cast<CUstream>(handle); }

// Thin checked queries; each throws the unavailability reason without CUDA.
int device_count();
int driver_version();
std::string device_name(int device);

// Device-wide used memory (total - free) in bytes, via the primary context.
int64_t device_memory_used_bytes(int device);

// A new stream in the device's primary context, as an integer handle. Never destroyed
// here: a framework given the stream (e.g. a session's compute stream) may use it until
// the process ends.
uintptr_t stream_create(int device, bool non_blocking);

}  // namespace dlb::cuda
