// RSS readings from /proc and the MemorySampler thread.
#include "memory.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "clock.hpp"
#include "nvml.hpp"
#include "placement.hpp"

namespace dlb {

namespace {

std::runtime_error errno_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

// statm is "size resident shared text lib data dt" in pages: parse the second field.
int64_t parse_resident_pages(const char* text) {
    const char* p = text;
    while (*p >= '0' && *p <= '9') ++p;  // skip "size"
    while (*p == ' ') ++p;
    int64_t pages = 0;
    for (; *p >= '0' && *p <= '9'; ++p) pages = pages * 10 + (*p - '0');
    return pages;
}

// VmHWM from /proc/self/status in bytes, -1 where the kernel does not report it.
int64_t vmhwm_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
    }
    return -1;
}

int64_t thread_cpu_time_ns() {
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return -1;
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

StatmReader::StatmReader() : page_size_(sysconf(_SC_PAGESIZE)) {
    fd_ = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw errno_error("open /proc/self/statm");
}

StatmReader::~StatmReader() {
    if (fd_ >= 0) close(fd_);
}

int64_t StatmReader::rss_bytes() const {
    char buffer[256];
    // pread at offset 0 makes the kernel regenerate the file: no seek, no reopen.
    const ssize_t n = pread(fd_, buffer, sizeof buffer - 1, 0);
    if (n <= 0) return -1;
    buffer[n] = '\0';
    return parse_resident_pages(buffer) * page_size_;
}

int64_t rss_bytes() {
    static const StatmReader reader;  // shared: pread has no file-position state
    const int64_t bytes = reader.rss_bytes();
    if (bytes < 0) throw errno_error("read /proc/self/statm");
    return bytes;
}

int64_t peak_rss_bytes() {
    const int64_t bytes = vmhwm_bytes();
    if (bytes < 0) throw std::runtime_error("VmHWM not found in /proc/self/status");
    return bytes;
}

bool reset_peak_rss() {
    const int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool done = write(fd, "5", 1) == 1;
    close(fd);
    return done && vmhwm_bytes() >= 0;
}

MemorySampler::MemorySampler(int64_t interval_us, int device, std::vector<int> cpus)
    : interval_us_(interval_us), device_(device), cpus_(std::move(cpus)) {
    if (interval_us <= 0) throw std::invalid_argument("interval_us must be > 0");
}

MemorySampler::~MemorySampler() {
    // The thread never needs the GIL, so joining here cannot deadlock.
    if (running_.load()) join_thread();
}

void MemorySampler::sample() {
    const int64_t rss = statm_.rss_bytes();
    result_.peak_rss_bytes = std::max(result_.peak_rss_bytes, rss);
    if (ctx_ != nullptr && device_error_.empty()) {
        size_t free_bytes = 0;
        size_t total_bytes = 0;
        const cuda::CUresult r = cuda::driver().cuMemGetInfo(&free_bytes, &total_bytes);
        if (r == cuda::CUDA_SUCCESS) {
            const auto used = static_cast<int64_t>(total_bytes - free_bytes);
            result_.peak_device_bytes = std::max(result_.peak_device_bytes, used);
        } else {
            device_error_ = "cuMemGetInfo_v2 failed with CUresult " + std::to_string(r);
        }
        sample_process();
    }
    ++result_.samples;
}

void MemorySampler::sample_process() {
    const int64_t now = now_ns();
    if (process_queried_ns_ != 0 && now - process_queried_ns_ < kProcessQueryNs) return;
    process_queried_ns_ = now;
    const int64_t bytes = nvml::device_process_memory_bytes(device_);  // -1: unavailable
    result_.peak_process_device_bytes = std::max(result_.peak_process_device_bytes, bytes);
}

void MemorySampler::sample_on_caller() {
    if (ctx_ == nullptr) return sample();
    cuda::ContextGuard guard(ctx_);  // cuMemGetInfo reads the calling thread's context
    sample();
}

void MemorySampler::start() {
    if (running_.load()) throw std::runtime_error("MemorySampler is already running");
    result_ = SamplerResult{};
    result_.interval_us = interval_us_;
    device_error_.clear();
    process_queried_ns_ = 0;
    ctx_ = (device_ >= 0 && cuda::available()) ? cuda::primary_context(device_) : nullptr;
    started_ns_ = now_ns();
    result_.peak_rss_from_kernel = reset_peak_rss();  // VmHWM := the current RSS
    sample_on_caller();  // the baseline is the first sample
    if (!device_error_.empty()) throw std::runtime_error("MemorySampler: " + device_error_);
    result_.baseline_rss_bytes = result_.peak_rss_bytes;
    result_.baseline_device_bytes = result_.peak_device_bytes;
    result_.baseline_process_device_bytes = result_.peak_process_device_bytes;
    stop_requested_ = false;
    thread_ = std::thread(&MemorySampler::run, this);
    if (!cpus_.empty()) {
        // Pinned before its first tick: the thread sleeps an interval before sampling.
        try {
            set_thread_affinity(thread_.native_handle(), cpus_);
        } catch (...) {
            join_thread();
            throw;
        }
    }
    running_.store(true);
}

void MemorySampler::run() {
    // cuMemGetInfo reads the current context: make the primary one current on this thread.
    if (ctx_ != nullptr) {
        const cuda::CUresult r = cuda::driver().cuCtxSetCurrent(ctx_);
        if (r != cuda::CUDA_SUCCESS) {
            device_error_ = "cuCtxSetCurrent failed with CUresult " + std::to_string(r);
        }
    }
    const auto interval = std::chrono::microseconds(interval_us_);
    auto next = std::chrono::steady_clock::now() + interval;
    std::unique_lock<std::mutex> lock(mutex_);
    // wait_until sleeps (no spin) and returns true as soon as stop() asks.
    while (!wake_.wait_until(lock, next, [this] { return stop_requested_; })) {
        lock.unlock();
        sample();
        lock.lock();
        next += interval;
        // After a stall (preemption), skip missed ticks instead of sampling in a burst.
        const auto now = std::chrono::steady_clock::now();
        if (next <= now) next = now + interval;
    }
    result_.thread_cpu_ns = thread_cpu_time_ns();
}

void MemorySampler::join_thread() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_requested_ = true;
    }
    wake_.notify_one();
    thread_.join();
    running_.store(false);
}

SamplerResult MemorySampler::stop() {
    if (!running_.load()) throw std::runtime_error("MemorySampler is not running");
    join_thread();
    process_queried_ns_ = 0;  // the final sample asks NVML too
    sample_on_caller();  // the final sample, so a region shorter than an interval is seen
    if (result_.peak_rss_from_kernel) {
        // The kernel saw every page fault since start(): exact, samples or not.
        result_.peak_rss_bytes = std::max(result_.peak_rss_bytes, vmhwm_bytes());
    }
    result_.elapsed_ns = now_ns() - started_ns_;
    if (!device_error_.empty()) throw std::runtime_error("MemorySampler: " + device_error_);
    return result_;
}

}  // namespace dlb
