// See fma_peak.hpp. Each ISA's kernel is compiled for that ISA with a target attribute and
// picked at run time (__builtin_cpu_supports), so the extension builds and runs anywhere.
#include "fma_peak.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <thread>
#include <vector>

#include "clock.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace dlb {
namespace {

constexpr int kChains = 12;            // independent accumulators: covers FMA latency x ports
constexpr int64_t kInner = 1 << 14;    // FMA rounds between clock reads

// One call of a kernel: kChains independent chains of kInner FMAs on one vector register
// each (the accumulators stay in registers: no memory in the loop). Returns the FMA lanes
// done (lanes x kChains x kInner); `sink` keeps the results alive.
#define DLB_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) int64_t kernel_avx512(float seed, float* sink) {
    const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f * seed);
#define DLB_INIT(c) __m512 a##c = _mm512_set1_ps(seed + 0.001f * c);
    DLB_CHAINS(DLB_INIT)
#undef DLB_INIT
    for (int64_t i = 0; i < kInner; ++i) {
#define DLB_STEP(c) a##c = _mm512_fmadd_ps(a##c, mul, add);
        DLB_CHAINS(DLB_STEP)
#undef DLB_STEP
    }
    __m512 total = _mm512_setzero_ps();
#define DLB_SUM(c) total = _mm512_add_ps(total, a##c);
    DLB_CHAINS(DLB_SUM)
#undef DLB_SUM
    *sink += _mm512_reduce_add_ps(total);
    return int64_t{16} * kChains * kInner;
}

__attribute__((target("avx2,fma"))) int64_t kernel_avx2(float seed, float* sink) {
    const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f * seed);
#define DLB_INIT(c) __m256 a##c = _mm256_set1_ps(seed + 0.001f * c);
    DLB_CHAINS(DLB_INIT)
#undef DLB_INIT
    for (int64_t i = 0; i < kInner; ++i) {
#define DLB_STEP(c) a##c = _mm256_fmadd_ps(a##c, mul, add);
        DLB_CHAINS(DLB_STEP)
#undef DLB_STEP
    }
    __m256 total = _mm256_setzero_ps();
#define DLB_SUM(c) total = _mm256_add_ps(total, a##c);
    DLB_CHAINS(DLB_SUM)
#undef DLB_SUM
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, total);
    for (float v : lanes) *sink += v;
    return int64_t{8} * kChains * kInner;
}
#endif

// Anywhere else: scalar chains the compiler may vectorise (a lower bound of the limit).
int64_t kernel_generic(float seed, float* sink) {
    float a[kChains];
    for (int c = 0; c < kChains; ++c) a[c] = seed + 0.001f * c;
    for (int64_t i = 0; i < kInner; ++i)
        for (int c = 0; c < kChains; ++c) a[c] = std::fma(a[c], 0.999999f, 1e-7f * seed);
    for (int c = 0; c < kChains; ++c) *sink += a[c];
    return int64_t{kChains} * kInner;
}

using Kernel = int64_t (*)(float, float*);

Kernel pick(std::string* isa) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *isa = "avx512f";
        return kernel_avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *isa = "avx2+fma";
        return kernel_avx2;
    }
#endif
    *isa = "generic";
    return kernel_generic;
}

}  // namespace

FmaPeak fma_peak(int threads, double seconds) {
    FmaPeak out;
    out.threads = std::max(1, threads);
    Kernel kernel = pick(&out.isa);
    // Rounds of ~1/20 of the time: every thread runs the same number of kernel calls per
    // round, and a round's rate is its FMAs over its wall time; the best round counts.
    const int64_t total_ns = static_cast<int64_t>(std::max(0.01, seconds) * 1e9);
    std::vector<float> sinks(static_cast<size_t>(out.threads) * 16, 0.0f);
    // calibrate: kernel calls per round on one thread
    int64_t calls = 1;
    {
        int64_t t0 = now_ns();
        kernel(1.0f, &sinks[0]);
        int64_t one = std::max<int64_t>(1, now_ns() - t0);
        calls = std::max<int64_t>(1, total_ns / 20 / one);
    }
    const int64_t deadline = now_ns() + total_ns;
    double best = 0.0;
    while (now_ns() < deadline) {
        std::atomic<int64_t> fmas{0};
        int64_t start = now_ns();
        std::vector<std::thread> pool;
        for (int t = 0; t < out.threads; ++t) {
            pool.emplace_back([&, t] {
                int64_t done = 0;
                for (int64_t k = 0; k < calls; ++k)
                    done += kernel(1.0f + t, &sinks[static_cast<size_t>(t) * 16]);
                fmas += done;
            });
        }
        for (auto& th : pool) th.join();
        int64_t elapsed = std::max<int64_t>(1, now_ns() - start);
        best = std::max(best, 2.0 * static_cast<double>(fmas.load()) / elapsed);  // GFLOP/s
    }
    out.gflops = best;
    return out;
}

}  // namespace dlb
