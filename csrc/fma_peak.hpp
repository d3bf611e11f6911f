// The FMA units' float32 limit: independent fused multiply-add chains on every thread.
#pragma once

#include <cstdint>
#include <string>

namespace dlb {

struct FmaPeak {
    double gflops = 0.0;   // best 2 x FMA lanes per second over the run, in 1e9
    std::string isa;       // the vector instructions used: "avx512f", "avx2+fma", "generic"
    int threads = 0;
};

// Runs `threads` threads (each inheriting the caller's CPU affinity) for about `seconds`,
// each issuing independent FMA chains on the widest vectors this CPU supports, and returns
// the best rate over short rounds. A matrix product reaches 85-95% of this; a network less.
FmaPeak fma_peak(int threads, double seconds);

}  // namespace dlb
