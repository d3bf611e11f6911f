// Affinity via sched_{set,get}affinity; NUMA policy via the raw mempolicy syscalls.
#include "placement.hpp"

#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dlb {

namespace {

constexpr int kMaxNodes = 4096;  // >= any kernel's MAX_NUMNODES (CONFIG_NODES_SHIFT <= 10)
constexpr int kBitsPerWord = 8 * sizeof(unsigned long);
constexpr int kModeFlags = (1 << 15) | (1 << 14) | (1 << 13);  // MPOL_F_STATIC/RELATIVE/NUMA_BALANCING

std::string errno_text(int err) { return std::strerror(err); }

std::string join(const std::vector<int>& values) {
    std::string text;
    for (int v : values) text += (text.empty() ? "" : ", ") + std::to_string(v);
    return "[" + text + "]";
}

// A dynamically sized cpu_set_t: CPU_SETSIZE (1024) is too small on large hosts.
class CpuSet {
public:
    explicit CpuSet(int cpus) : count_(cpus), set_(CPU_ALLOC(cpus)), size_(CPU_ALLOC_SIZE(cpus)) {
        if (set_ == nullptr) throw std::bad_alloc();
        CPU_ZERO_S(size_, set_);
    }
    ~CpuSet() { CPU_FREE(set_); }
    CpuSet(const CpuSet&) = delete;
    CpuSet& operator=(const CpuSet&) = delete;
    cpu_set_t* get() { return set_; }
    size_t size() const { return size_; }
    int count() const { return count_; }

private:
    int count_;
    cpu_set_t* set_;
    size_t size_;
};

int configured_cpus() {
    const long n = sysconf(_SC_NPROCESSORS_CONF);
    return n > 0 ? static_cast<int>(n) : 1;
}

long mempolicy_syscall_set(int mode, const unsigned long* mask, unsigned long maxnode) {
    return syscall(SYS_set_mempolicy, mode, mask, maxnode);
}

// The mask of `cpus`; std::invalid_argument for an empty list or an out-of-range cpu.
void fill_cpu_set(const char* what, const std::vector<int>& cpus, CpuSet& set) {
    if (cpus.empty()) throw std::invalid_argument(std::string(what) + ": cpus must not be empty");
    for (int cpu : cpus) {
        if (cpu < 0 || cpu >= set.count()) {
            throw std::invalid_argument(std::string(what) + ": invalid cpu " +
                                        std::to_string(cpu) + " (this machine has cpus 0-" +
                                        std::to_string(set.count() - 1) + ")");
        }
        CPU_SET_S(static_cast<size_t>(cpu), set.size(), set.get());
    }
}

// The exception for a failed sched_setaffinity / pthread_setaffinity_np error `err`.
[[noreturn]] void throw_affinity_error(const char* what, const std::vector<int>& cpus, int err) {
    // EINVAL: none of the cpus is online or allowed by this process's cpuset.
    if (err == EINVAL) {
        throw std::invalid_argument(std::string(what) + ": cpus " + join(cpus) +
                                    " are not usable here (offline or outside this "
                                    "process's cpuset): " + errno_text(err));
    }
    throw std::runtime_error(std::string(what) + ": setting the affinity failed: " +
                             errno_text(err));
}

}  // namespace

void set_affinity(const std::vector<int>& cpus) {
    CpuSet set(configured_cpus());
    fill_cpu_set("set_affinity", cpus, set);
    if (sched_setaffinity(0, set.size(), set.get()) == 0) return;
    throw_affinity_error("set_affinity", cpus, errno);  // errno before any other call
}

void set_thread_affinity(pthread_t thread, const std::vector<int>& cpus) {
    CpuSet set(configured_cpus());
    fill_cpu_set("set_thread_affinity", cpus, set);
    const int err = pthread_setaffinity_np(thread, set.size(), set.get());  // returns the error
    if (err != 0) throw_affinity_error("set_thread_affinity", cpus, err);
}

std::vector<int> get_affinity() {
    // Grow the set until the kernel's mask fits (EINVAL means it was too small).
    for (int ncpu = configured_cpus();; ncpu *= 2) {
        CpuSet set(ncpu);
        if (sched_getaffinity(0, set.size(), set.get()) == 0) {
            std::vector<int> cpus;
            const int bits = static_cast<int>(set.size() * 8);
            for (int cpu = 0; cpu < bits; ++cpu) {
                if (CPU_ISSET_S(static_cast<size_t>(cpu), set.size(), set.get())) cpus.push_back(cpu);
            }
            return cpus;
        }
        const int err = errno;
        if (err != EINVAL || ncpu > (1 << 20)) {
            throw std::runtime_error("get_affinity: sched_getaffinity failed: " + errno_text(err));
        }
    }
}

int numa_node_count() {
    DIR* dir = opendir("/sys/devices/system/node");
    if (dir == nullptr) return 1;  // no NUMA support in sysfs: one node
    int count = 0;
    while (const dirent* entry = readdir(dir)) {
        const char* name = entry->d_name;
        if (std::strncmp(name, "node", 4) == 0 && name[4] >= '0' && name[4] <= '9') ++count;
    }
    closedir(dir);
    return count > 0 ? count : 1;
}

void set_membind(const std::vector<int>& nodes) {
    if (nodes.empty()) throw std::invalid_argument("set_membind: nodes must not be empty");
    unsigned long mask[kMaxNodes / kBitsPerWord] = {};
    for (int node : nodes) {
        if (node < 0 || node >= kMaxNodes) {
            throw std::invalid_argument("set_membind: invalid NUMA node " + std::to_string(node));
        }
        mask[node / kBitsPerWord] |= 1UL << (node % kBitsPerWord);
    }
    // maxnode is one more than the bits passed: the kernel reads maxnode - 1 bits
    // (a historical off-by-one that libnuma compensates for the same way).
    if (mempolicy_syscall_set(kMpolBind, mask, kMaxNodes + 1) == 0) return;
    const int err = errno;
    if (err == EINVAL) {
        const std::string count = std::to_string(numa_node_count());
        throw std::invalid_argument("set_membind: nodes " + join(nodes) +
                                    " are not usable NUMA nodes (this machine has " + count +
                                    "): " + errno_text(err));
    }
    throw std::runtime_error("set_membind: set_mempolicy failed: " + errno_text(err));
}

void reset_mempolicy() {
    if (mempolicy_syscall_set(kMpolDefault, nullptr, 0) != 0) {
        throw std::runtime_error("reset_mempolicy: set_mempolicy failed: " + errno_text(errno));
    }
}

std::pair<int, std::vector<int>> get_mempolicy() {
    int mode = 0;
    unsigned long mask[kMaxNodes / kBitsPerWord] = {};
    // flags = 0: the calling thread's policy; maxnode as for set_mempolicy.
    if (syscall(SYS_get_mempolicy, &mode, mask, kMaxNodes + 1, nullptr, 0) != 0) {
        throw std::runtime_error("get_mempolicy: get_mempolicy failed: " + errno_text(errno));
    }
    std::vector<int> nodes;
    for (int node = 0; node < kMaxNodes; ++node) {
        if (mask[node / kBitsPerWord] & (1UL << (node % kBitsPerWord))) nodes.push_back(node);
    }
    return {mode & ~kModeFlags, nodes};
}

}  // namespace dlb
