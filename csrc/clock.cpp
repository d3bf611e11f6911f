// Clock resolution/overhead measurements and the GIL-free busy wait.
#include "clock.hpp"

#include <limits>
#include <string>
#include <stdexcept>

namespace dlb {

namespace {
void require_positive(int64_t value, const char* name) {
    if (value <= 0) throw std::invalid_argument(std::string(name) + " must be > 0");
}
}  // namespace

int64_t clock_resolution_ns(int64_t samples) {
    require_positive(samples, "samples");
    int64_t best = std::numeric_limits<int64_t>::max();
    for (int64_t i = 0; i < samples; ++i) {
        // Wait for the clock to tick once: the step is the resolution we can observe.
        const int64_t t0 = now_ns();
        int64_t t1 = now_ns();
        while (t1 == t0) t1 = now_ns();
        if (t1 - t0 < best) best = t1 - t0;
    }
    return best;
}

double clock_overhead_ns(int64_t samples) {
    require_positive(samples, "samples");
    // Accumulate into a volatile so the reads cannot be treated as dead code.
    volatile int64_t sink = 0;
    const int64_t t0 = now_ns();
    for (int64_t i = 0; i < samples; ++i) sink = sink + now_ns();
    const int64_t t1 = now_ns();
    (void)sink;
    return static_cast<double>(t1 - t0) / static_cast<double>(samples);
}

int64_t busy_wait_ns(int64_t duration_ns) {
    if (duration_ns < 0) throw std::invalid_argument("duration_ns must be >= 0");
    // A spin rather than a sleep: sleeping has scheduler-dependent wake-up latency.
    const int64_t start = now_ns();
    int64_t now = start;
    while (now - start < duration_ns) now = now_ns();
    return now - start;
}

}  // namespace dlb
