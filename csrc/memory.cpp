// RSS readings from /proc and the MemorySampler thread.
#include "memory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "clock.hpp"

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
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
    }
    throw std::runtime_error("VmHWM not found in /proc/self/status");
}

MemorySampler::MemorySampler(int64_t interval_us, int device)
    : interval_us_(interval_us), device_(device) {
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
    }
    ++result_.samples;
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
    ctx_ = (device_ >= 0 && cuda::available()) ? cuda::primary_context(device_) : nullptr;
    started_ns_ = now_ns();
    sample_on_caller();  // the baseline is the first sample
    if (!device_error_.empty()) throw std::runtime_error("MemorySampler: " + device_error_);
    result_.baseline_rss_bytes = result_.peak_rss_bytes;
    result_.baseline_device_bytes = result_.peak_device_bytes;
    stop_requested_ = false;
    thread_ = std::thread(&MemorySampler::run, this);
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
    sample_on_caller();  // the final sample, so a region shorter than an interval is seen
    result_.elapsed_ns = now_ns() - started_ns_;
    if (!device_error_.empty()) throw std::runtime_error("MemorySampler: " + device_error_);
    return result_;
}

}  // namespace dlb
