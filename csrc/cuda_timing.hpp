// Device-side timing with CUDA events recorded on a caller-given stream.
#pragma once

#include <Python.h>

#include <cstdint>
#include <vector>

#include "cuda_driver.hpp"

namespace dlb::cuda {

// `capacity` preallocated start/stop event pairs in the device's primary context.
// Recording only enqueues; elapsed_ns() synchronises once, on the last stop event.
class CudaEventTimer {
public:
    CudaEventTimer(int64_t capacity, int device);
    ~CudaEventTimer();
    CudaEventTimer(const CudaEventTimer&) = delete;
    CudaEventTimer& operator=(const CudaEventTimer&) = delete;

    void record_start(uintptr_t stream);
    void record_stop(uintptr_t stream);
    // Blocks until the last stop event completed (no-op without pairs).
    void synchronize() const;
    // Blocks until the last stop event completed, then writes size() durations (ns).
    // Needs no Python: callers release the GIL around it.
    void elapsed_ns(int64_t* out) const;
    void reset();
    int64_t size() const { return count_; }
    int64_t capacity() const { return static_cast<int64_t>(starts_.size()); }

private:
    void destroy_events() noexcept;

    CUcontext ctx_ = nullptr;
    std::vector<CUevent> starts_;
    std::vector<CUevent> stops_;
    int64_t count_ = 0;   // completed (start, stop) pairs
    bool open_ = false;   // record_start seen, record_stop pending
};

// One window of steps: records events around each of `iterations` calls of `fn` on
// `stream` (GIL held), host steady-clock ns per call into `host_out`, then synchronises
// once (GIL released) and writes the device ns per call into `device_out`. Both buffers
// `iterations` long. `*window_ns` is the wall time from before the first call to the end
// of the synchronisation: the steps may overlap on the device, so Σ items / Σ window
// time is the throughput (the events are created before the window starts). Returns
// false when `fn` raised (the Python error is then set); CUDA errors throw.
bool time_calls_cuda(PyObject* fn, int64_t iterations, uintptr_t stream, int device,
                     int64_t* host_out, int64_t* device_out, int64_t* window_ns);

}  // namespace dlb::cuda
