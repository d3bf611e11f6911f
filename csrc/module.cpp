// Python bindings of suite._native. Only glue lives here: argument conversion, numpy
// buffers, GIL release and dicts; the work is in clock/timing/cuda_*/memory/placement.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "clock.hpp"
#include "cuda_driver.hpp"
#include "cuda_timing.hpp"
#include "fma_peak.hpp"
#include "memory.hpp"
#include "nvml.hpp"
#include "placement.hpp"
#include "timing.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using Int64Array = py::array_t<int64_t>;
using NoGil = py::call_guard<py::gil_scoped_release>;

namespace {

Int64Array time_calls(const py::object& fn, int64_t iterations, int64_t budget_ns,
                      const py::object& sync) {
    Int64Array out(std::max<int64_t>(iterations, 0));  // preallocated before the loop
    const int64_t n = dlb::time_calls(fn.ptr(), sync.is_none() ? nullptr : sync.ptr(),
                                      out.mutable_data(), iterations, budget_ns);
    if (n < 0) throw py::error_already_set();
    return n == out.size() ? out : Int64Array(n, out.data());  // copy of the used head
}

py::tuple time_calls_cuda(const py::object& fn, int64_t iterations, uintptr_t stream,
                          int device) {
    dlb::cuda::require();  // the unavailability reason before any argument complaint
    Int64Array host(std::max<int64_t>(iterations, 0));
    Int64Array dev(std::max<int64_t>(iterations, 0));
    int64_t window_ns = 0;
    if (!dlb::cuda::time_calls_cuda(fn.ptr(), iterations, stream, device,
                                    host.mutable_data(), dev.mutable_data(), &window_ns)) {
        throw py::error_already_set();
    }
    return py::make_tuple(host, dev, window_ns);
}

uintptr_t stream_create(int device, bool non_blocking) {
    dlb::cuda::require();  // the unavailability reason, whatever the arguments
    return dlb::cuda::stream_create(device, non_blocking);
}

Int64Array timer_elapsed(const dlb::cuda::CudaEventTimer& timer) {
    Int64Array out(timer.size());
    int64_t* data = out.mutable_data();
    py::gil_scoped_release release;  // waits on the GPU
    timer.elapsed_ns(data);
    return out;
}

double loop_overhead(int64_t iterations) {
    const double ns = dlb::loop_overhead_ns(iterations);
    if (ns < 0) throw py::error_already_set();
    return ns;
}

py::dict sampler_stop(dlb::MemorySampler& sampler) {
    dlb::SamplerResult r;
    {
        py::gil_scoped_release release;  // waits for the sampler thread
        r = sampler.stop();
    }
    return py::dict("peak_rss_bytes"_a = r.peak_rss_bytes,
                    "baseline_rss_bytes"_a = r.baseline_rss_bytes, "samples"_a = r.samples,
                    "interval_us"_a = r.interval_us, "elapsed_ns"_a = r.elapsed_ns,
                    "peak_device_bytes"_a = r.peak_device_bytes,
                    "baseline_device_bytes"_a = r.baseline_device_bytes,
                    "peak_process_device_bytes"_a = r.peak_process_device_bytes,
                    "baseline_process_device_bytes"_a = r.baseline_process_device_bytes,
                    "peak_rss_from_kernel"_a = r.peak_rss_from_kernel,
                    "thread_cpu_ns"_a = r.thread_cpu_ns);
}

int64_t device_memory_used(int device) {
    if (!dlb::cuda::available()) return -1;
    py::gil_scoped_release release;  // the first call may create the primary context
    return dlb::cuda::device_memory_used_bytes(device);
}

void bind_clock(py::module_& m) {
    m.def("now_ns", &dlb::now_ns,
          "Monotonic steady clock (CLOCK_MONOTONIC via std::chrono::steady_clock), nanoseconds.");
    m.def("clock_resolution_ns", &dlb::clock_resolution_ns, "samples"_a = 1000,
          "Smallest non-zero difference observed between consecutive clock reads.");
    m.def("clock_overhead_ns", &dlb::clock_overhead_ns, "samples"_a = 100000,
          "Mean cost of one clock read, in nanoseconds.");
    m.def("busy_wait_ns", &dlb::busy_wait_ns, "duration_ns"_a, NoGil(),
          "Spin (GIL released) for at least `duration_ns`; returns the measured duration.");
    m.def("time_calls", &time_calls, "fn"_a, "iterations"_a, "budget_ns"_a = 0,
          "sync"_a = py::none(),
          "Call `fn` (then `sync`, if given) up to `iterations` times, stopping early once\n"
          "`budget_ns` (> 0) of timed time has passed; per-iteration durations as int64 ns.\n"
          "The clock is read right before `fn` and right after `sync` (GIL held, no\n"
          "allocation in the loop); exceptions from `fn`/`sync` propagate.");
    m.def("loop_overhead_ns", &loop_overhead, "iterations"_a = 100000,
          "Per-iteration cost of time_calls on an empty built-in callable, in ns\n"
          "(median recorded duration of `noop`: the floor under every time_calls sample).");
    m.attr("noop") = py::reinterpret_steal<py::object>(dlb::new_noop_function());
}

py::list nvml_gpus() {
    std::vector<dlb::nvml::GpuFacts> gpus;
    dlb::nvml::SystemFacts system;
    {
        py::gil_scoped_release release;  // the first call loads and initialises NVML
        gpus = dlb::nvml::gpus();
        system = dlb::nvml::system();
    }
    py::list out;
    for (const auto& g : gpus) {
        out.append(py::dict("index"_a = g.index, "name"_a = g.name, "uuid"_a = g.uuid,
                            "memory_total_bytes"_a = g.memory_total_bytes,
                            "mig_enabled"_a = g.mig_enabled,
                            "driver_version"_a = system.driver_version,
                            "cuda_driver_version"_a = system.cuda_driver_version));
    }
    return out;
}

std::pair<int64_t, std::string> nvml_total_energy(int device) {
    dlb::nvml::EnergyReading e = dlb::nvml::total_energy(device);
    return {e.millijoules, e.reason};
}

void bind_nvml(py::module_& m) {
    m.def("nvml_unavailable_reason", &dlb::nvml::unavailable_reason, NoGil(),
          "One line saying why NVML is unusable ('' when libnvidia-ml.so.1 loaded and\n"
          "nvmlInit_v2 succeeded).");
    m.def("nvml_gpus", &nvml_gpus,
          "Every GPU NVML sees, in NVML (PCI bus) order, as dicts: index, name, uuid,\n"
          "memory_total_bytes, mig_enabled, driver_version, cuda_driver_version (e.g.\n"
          "12040); a field whose query failed is None. Empty without NVML.");
    m.def("nvml_total_energy_mj", &nvml_total_energy, "device"_a = 0, NoGil(),
          "(millijoules, '') from NVML's total-energy counter of CUDA device `device`\n"
          "(since the driver loaded; Volta and later), or (-1, why it cannot be read).");
}

void bind_cuda(py::module_& m) {
    namespace cu = dlb::cuda;
    m.def("cuda_available", &cu::available,
          "True when libcuda.so.1 loads, cuInit succeeds and a device is visible.");
    m.def("cuda_unavailable_reason", [] { return cu::driver().unavailable_reason; },
          "One line saying why CUDA is unavailable ('' when available).");
    m.def("cuda_device_count", &cu::device_count, "Number of visible CUDA devices.");
    m.def("cuda_driver_version", &cu::driver_version,
          "CUDA driver API version (e.g. 12040 for 12.4).");
    m.def("cuda_device_name", &cu::device_name, "device"_a = 0, "Name of CUDA device `device`.");
    py::class_<cu::CudaEventTimer>(m, "CudaEventTimer",
        "Start/stop CUDA event pairs recorded on a caller-given stream, read after one sync.")
        .def(py::init<int64_t, int>(), "capacity"_a, "device"_a = 0,
             "Preallocate `capacity` event pairs on `device`'s primary context.")
        .def("record_start", &cu::CudaEventTimer::record_start, "stream"_a = 0,
             "Record the next pair's start event on `stream` (an integer CUstream handle).")
        .def("record_stop", &cu::CudaEventTimer::record_stop, "stream"_a = 0,
             "Record the open pair's stop event on `stream`.")
        .def("elapsed_ns", &timer_elapsed,
             "Synchronize on the last stop event, then each pair's elapsed time (int64 ns).")
        .def("reset", &cu::CudaEventTimer::reset, "Forget recorded pairs (events are reused).")
        .def_property_readonly("capacity", &cu::CudaEventTimer::capacity, "Number of pairs.")
        .def("__len__", &cu::CudaEventTimer::size, "Number of completed pairs.");
    m.def("time_calls_cuda", &time_calls_cuda, "fn"_a, "iterations"_a, "stream"_a = 0,
          "device"_a = 0,
          "One window of calls: events around each call of `fn` on `stream`; returns (host\n"
          "ns per call: the call alone by the steady clock, device ns per call: from the\n"
          "events, window ns: wall time from the first call to the end of the one\n"
          "synchronisation, at the end).");
    m.def("cuda_stream_create", &stream_create, "device"_a = 0, "non_blocking"_a = true,
          "A new CUDA stream in `device`'s primary context, as an integer CUstream handle\n"
          "(never destroyed: it lives as long as the process).");
    m.def("device_memory_used_bytes", &device_memory_used, "device"_a = 0,
          "Device-wide used memory (total - free), -1 without CUDA.");
    m.def("device_process_memory_bytes", &dlb::nvml::device_process_memory_bytes,
          "device"_a = 0, NoGil(),
          "Device memory used by this process (NVML), -1 when CUDA or NVML is unavailable.");
}

void bind_memory(py::module_& m) {
    m.def("rss_bytes", [] { return dlb::rss_bytes(); },
          "Current resident set size of this process (from /proc/self/statm).");
    m.def("peak_rss_bytes", &dlb::peak_rss_bytes,
          "Peak RSS of this process (VmHWM) since start or the last reset_peak_rss().");
    m.def("reset_peak_rss", &dlb::reset_peak_rss,
          "Set VmHWM to the current RSS (/proc/self/clear_refs); False where not allowed.");
    py::class_<dlb::MemorySampler>(m, "MemorySampler",
        "A native thread sampling RSS (and device memory) every `interval_us`; no GIL needed.")
        .def(py::init<int64_t, int, std::vector<int>>(), "interval_us"_a = 1000,
             "device"_a = -1, "cpus"_a = std::vector<int>{},
             "Sampler of RSS and, when `device` >= 0 and CUDA is available, device memory\n"
             "(device-wide and, from NVML, this process's); its thread runs on `cpus` when\n"
             "given (else where the caller may run).")
        .def("start", &dlb::MemorySampler::start, NoGil(),
             "Reset VmHWM, take the baseline sample and start the sampling thread.")
        .def("stop", &sampler_stop,
             "Stop and join the thread, take a last sample. Keys: peak_rss_bytes (VmHWM\n"
             "since start() where peak_rss_from_kernel, else the largest sample),\n"
             "baseline_rss_bytes, samples, interval_us, elapsed_ns, peak_device_bytes,\n"
             "baseline_device_bytes (device-wide used memory, -1 without device),\n"
             "peak_process_device_bytes, baseline_process_device_bytes (this process's\n"
             "device memory from NVML, -1 where unavailable), peak_rss_from_kernel,\n"
             "thread_cpu_ns (CPU time of the sampling thread).")
        .def_property_readonly("running", &dlb::MemorySampler::running,
                               "True between start() and stop().");
}

void bind_placement(py::module_& m) {
    m.def("set_affinity", &dlb::set_affinity, "cpus"_a,
          "Pin this thread (and threads created after) to `cpus` (sched_setaffinity).");
    m.def("get_affinity", &dlb::get_affinity, "CPUs this thread may run on.");
    m.def("fma_peak", [](int threads, double seconds) {
              dlb::FmaPeak p = dlb::fma_peak(threads, seconds);   // no GIL: plain values
              return std::make_pair(p.gflops, p.isa);
          }, "threads"_a, "seconds"_a = 0.2, NoGil(),
          "(GFLOP/s, ISA): the FMA units' float32 limit with `threads` threads (inheriting "
          "this thread's affinity) over about `seconds`, the best of short rounds.");
    m.def("numa_node_count", &dlb::numa_node_count, "Number of NUMA nodes (sysfs).");
    m.def("set_membind", &dlb::set_membind, "nodes"_a,
          "Bind future allocations of this thread to NUMA `nodes` (set_mempolicy MPOL_BIND).");
    m.def("reset_mempolicy", &dlb::reset_mempolicy,
          "Restore this thread's default memory policy (set_mempolicy MPOL_DEFAULT).");
    m.def("get_mempolicy", &dlb::get_mempolicy, "(mode, nodes) of this thread's memory policy.");
    m.attr("MPOL_DEFAULT") = dlb::kMpolDefault;
    m.attr("MPOL_PREFERRED") = dlb::kMpolPreferred;
    m.attr("MPOL_BIND") = dlb::kMpolBind;
    m.attr("MPOL_INTERLEAVE") = dlb::kMpolInterleave;
    m.attr("MPOL_LOCAL") = dlb::kMpolLocal;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "dlbench native timing, memory sampling and CPU placement";
    bind_clock(m);
    bind_cuda(m);
    bind_nvml(m);
    bind_memory(m);
    bind_placement(m);
}
