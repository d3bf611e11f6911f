// Monotonic clock helpers shared by every timing path of the extension.
#pragma once

#include <chrono>
#include <cstdint>

namespace dlb {

// std::chrono::steady_clock is CLOCK_MONOTONIC on Linux (a vDSO call, no syscall):
// the same clock as time.perf_counter_ns/time.monotonic_ns, so numbers compare directly.
inline int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Smallest non-zero step between consecutive reads, over `samples` steps.
int64_t clock_resolution_ns(int64_t samples);

// Mean cost of one now_ns() call over `samples` back-to-back reads.
double clock_overhead_ns(int64_t samples);

// Spin until at least `duration_ns` has elapsed; returns the measured duration.
// Needs no Python: the bindings release the GIL around it.
int64_t busy_wait_ns(int64_t duration_ns);

}  // namespace dlb
