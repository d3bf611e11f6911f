// CPU and NUMA placement of the calling thread (raw syscalls, no libnuma).
#pragma once

#include <pthread.h>

#include <utility>
#include <vector>

namespace dlb {

// Linux MPOL_* modes (linux/mempolicy.h).
constexpr int kMpolDefault = 0;
constexpr int kMpolPreferred = 1;
constexpr int kMpolBind = 2;
constexpr int kMpolInterleave = 3;
constexpr int kMpolLocal = 4;

// sched_setaffinity(0, ...): the calling thread; threads it creates later inherit it.
// Throws std::invalid_argument for an empty list, an out-of-range or unusable cpu.
void set_affinity(const std::vector<int>& cpus);
// pthread_setaffinity_np for another thread of this process; the same errors.
void set_thread_affinity(pthread_t thread, const std::vector<int>& cpus);
std::vector<int> get_affinity();

// Number of /sys/devices/system/node/node<N> entries (1 when sysfs has none).
int numa_node_count();

// set_mempolicy(MPOL_BIND, nodes) for the calling thread's future allocations.
void set_membind(const std::vector<int>& nodes);
// set_mempolicy(MPOL_DEFAULT): undo set_membind.
void reset_mempolicy();
// (mode without MPOL_F_* flags, nodes) of the calling thread's policy.
std::pair<int, std::vector<int>> get_mempolicy();

}  // namespace dlb
