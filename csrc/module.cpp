// Bindings of suite._native (placeholder; the timing, sampler and placement parts follow).
#include <pybind11/pybind11.h>
#include <chrono>
#include <cstdint>

namespace py = pybind11;

PYBIND11_MODULE(_native, m) {
    m.doc() = "dlbench native timing, memory sampling and CPU placement";
    m.def("now_ns", [] {
        return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::steady_clock::now().time_since_epoch()).count());
    }, "Monotonic steady clock in nanoseconds.");
}
