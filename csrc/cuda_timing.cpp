// CudaEventTimer and time_calls_cuda. Untestable without a GPU: kept small and explicit.
#include "cuda_timing.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "clock.hpp"
#include "timing.hpp"

namespace dlb::cuda {

CudaEventTimer::CudaEventTimer(int64_t capacity, int device) {
    if (capacity <= 0) throw std::invalid_argument("capacity must be > 0");
    ctx_ = primary_context(device);  // raises the unavailability reason without CUDA
    ContextGuard guard(ctx_);
    const Driver& d = require();
    starts_.reserve(static_cast<size_t>(capacity));
    stops_.reserve(static_cast<size_t>(capacity));
    try {
        for (int64_t i = 0; i < capacity; ++i) {
            CUevent start = nullptr;
            CUevent stop = nullptr;
            check(d.cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
            starts_.push_back(start);
            check(d.cuEventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
            stops_.push_back(stop);
        }
    } catch (...) {
        destroy_events();
        throw;
    }
}

CudaEventTimer::~CudaEventTimer() { destroy_events(); }

void CudaEventTimer::destroy_events() noexcept {
    try {
        ContextGuard guard(ctx_);
        const Driver& d = require();
        for (CUevent e : starts_) d.cuEventDestroy(e);
        for (CUevent e : stops_) d.cuEventDestroy(e);
    } catch (...) {
        // The driver may already be shut down at interpreter exit: nothing to free then.
    }
    starts_.clear();
    stops_.clear();
}

void CudaEventTimer::record_start(uintptr_t stream) {
    if (open_) throw std::runtime_error("record_start called twice without record_stop");
    if (count_ >= capacity()) {
        throw std::runtime_error("CudaEventTimer is full (" + std::to_string(capacity()) +
                                 " pairs); call reset() or use a larger capacity");
    }
    ContextGuard guard(ctx_);
    check(require().cuEventRecord(starts_[static_cast<size_t>(count_)], to_stream(stream)),
          "cuEventRecord");
    open_ = true;
}

void CudaEventTimer::record_stop(uintptr_t stream) {
    if (!open_) throw std::runtime_error("record_stop called without record_start");
    ContextGuard guard(ctx_);
    check(require().cuEventRecord(stops_[static_cast<size_t>(count_)], to_stream(stream)),
          "cuEventRecord");
    open_ = false;
    ++count_;
}

void CudaEventTimer::synchronize() const {
    if (count_ == 0) return;
    ContextGuard guard(ctx_);
    check(require().cuEventSynchronize(stops_[static_cast<size_t>(count_ - 1)]),
          "cuEventSynchronize");
}

void CudaEventTimer::elapsed_ns(int64_t* out) const {
    if (open_) throw std::runtime_error("elapsed_ns: a record_start has no record_stop yet");
    if (count_ == 0) return;
    synchronize();
    ContextGuard guard(ctx_);
    const Driver& d = require();
    for (int64_t i = 0; i < count_; ++i) {
        const auto k = static_cast<size_t>(i);
        float ms = 0.0f;
        CUresult r = d.cuEventElapsedTime(&ms, starts_[k], stops_[k]);
        if (r == CUDA_ERROR_NOT_READY) {
            // Pairs recorded on other streams are not ordered before the last stop event.
            check(d.cuEventSynchronize(stops_[k]), "cuEventSynchronize");
            r = d.cuEventElapsedTime(&ms, starts_[k], stops_[k]);
        }
        check(r, "cuEventElapsedTime");
        out[i] = std::llround(static_cast<double>(ms) * 1e6);
    }
}

void CudaEventTimer::reset() {
    count_ = 0;
    open_ = false;
}

bool time_calls_cuda(PyObject* fn, int64_t iterations, uintptr_t stream, int device,
                     int64_t* host_out, int64_t* device_out, int64_t* window_ns) {
    if (iterations < 0) throw std::invalid_argument("iterations must be >= 0");
    require();
    *window_ns = 0;
    if (iterations == 0) return true;
    CudaEventTimer timer(iterations, device);
    const int64_t window_start = now_ns();
    for (int64_t i = 0; i < iterations; ++i) {
        // Event records sit outside the host window so host ns is the call alone.
        timer.record_start(stream);
        const int64_t t0 = now_ns();
        PyObject* result = PyObject_CallNoArgs(fn);
        const int64_t t1 = now_ns();
        if (result == nullptr) return false;
        Py_DECREF(result);
        timer.record_stop(stream);
        host_out[i] = t1 - t0;
    }
    GilRelease release;  // the one synchronisation needs no Python
    timer.synchronize();
    *window_ns = now_ns() - window_start;
    timer.elapsed_ns(device_out);
    return true;
}

}  // namespace dlb::cuda
