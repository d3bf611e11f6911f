// Process memory readings and the background MemorySampler thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_driver.hpp"

namespace dlb {

// Reads this process's RSS from /proc/self/statm through a descriptor opened once:
// each read is one pread into a stack buffer (no allocation, safe from any thread).
class StatmReader {
public:
    StatmReader();
    ~StatmReader();
    StatmReader(const StatmReader&) = delete;
    StatmReader& operator=(const StatmReader&) = delete;
    int64_t rss_bytes() const;

private:
    int fd_ = -1;
    int64_t page_size_ = 0;
};

int64_t rss_bytes();       // current RSS
int64_t peak_rss_bytes();  // VmHWM from /proc/self/status
// Sets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs, Linux >= 4.0);
// false where the kernel does not allow it. The high-water mark is the process's own.
bool reset_peak_rss();

struct SamplerResult {
    int64_t peak_rss_bytes = 0;
    int64_t baseline_rss_bytes = 0;
    int64_t samples = 0;
    int64_t interval_us = 0;
    int64_t elapsed_ns = 0;
    int64_t peak_device_bytes = -1;
    int64_t baseline_device_bytes = -1;
    int64_t peak_process_device_bytes = -1;      // NVML per process; -1 where unavailable
    int64_t baseline_process_device_bytes = -1;
    bool peak_rss_from_kernel = false;  // VmHWM reset at start() and read at stop()
    int64_t thread_cpu_ns = 0;          // CPU time the sampling thread used
};

// Samples RSS (and, when `device` >= 0 and CUDA is available, the device-wide used memory
// and this process's device memory from NVML) every `interval_us` on a std::thread that
// never touches Python, pinned to `cpus` when given
// (e.g. a core outside the measured ones). start() and stop() each take one sample on the
// calling thread so regions shorter than an interval are seen. The RSS peak is the
// kernel's VmHWM where it can be reset at start(): exact, whatever the interval, so the
// thread may sample rarely; elsewhere it is the largest sample. Resetting VmHWM is
// process-wide: run one sampler at a time. The NVML process query is slower than the
// others (it lists the device's processes): it runs at most every kProcessQueryNs, and in
// start() and stop(); framework allocators rarely return memory to the driver, so a peak
// between two queries is seldom missed. None of the methods needs the GIL: the bindings
// release it around start/stop.
class MemorySampler {
public:
    MemorySampler(int64_t interval_us, int device, std::vector<int> cpus = {});
    ~MemorySampler();
    MemorySampler(const MemorySampler&) = delete;
    MemorySampler& operator=(const MemorySampler&) = delete;

    void start();
    SamplerResult stop();
    bool running() const { return running_.load(); }

private:
    static constexpr int64_t kProcessQueryNs = 10'000'000;  // NVML per-process: 10 ms

    void sample();            // one reading; updates peaks and the sample count
    void sample_process();    // this process's device memory (NVML), when due
    void sample_on_caller();  // sample() with the device context current on this thread
    void run();          // the sampler thread's loop
    void join_thread();  // ask the thread to stop and wait for it

    const int64_t interval_us_;
    const int device_;
    const std::vector<int> cpus_;
    StatmReader statm_;
    cuda::CUcontext ctx_ = nullptr;  // set by start() when device sampling is on

    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_requested_ = false;  // guarded by mutex_
    std::atomic<bool> running_{false};

    // Written by the sampler thread while it runs and by the owner only before the
    // thread starts or after join(): join() orders the accesses, no lock needed.
    SamplerResult result_;
    int64_t started_ns_ = 0;
    int64_t process_queried_ns_ = 0;  // when NVML was last asked (0: never)
    std::string device_error_;
};

}  // namespace dlb
