// Host-side iteration timing: a C++ loop calling a Python callable.
// Only the Python C API is used here (not pybind11) so these files compile quickly;
// Python errors follow the C API convention: a -1 result with the error indicator set.
#pragma once

#include <Python.h>

#include <cstdint>

namespace dlb {

// Calls `fn` (then `sync` when non-null) up to `iterations` times with the GIL held,
// writing each iteration's steady-clock duration into `out` (caller-preallocated,
// `iterations` long). Stops after the iteration at which the summed durations reach
// `budget_ns` (when > 0). Returns the number of samples written, or -1 when `fn`/`sync`
// raised (or a signal handler did): the Python error is then set.
int64_t time_calls(PyObject* fn, PyObject* sync, int64_t* out, int64_t iterations,
                   int64_t budget_ns);

// A new reference to a do-nothing METH_NOARGS builtin: the cheapest Python call possible.
PyObject* new_noop_function();

// Median duration recorded by time_calls for the no-op builtin: the floor of every
// sample. -1 with the Python error set on failure (e.g. KeyboardInterrupt).
double loop_overhead_ns(int64_t iterations);

// Releases the GIL for its lifetime (Py_BEGIN/END_ALLOW_THREADS, exception-safe).
class GilRelease {
public:
    GilRelease() : state_(PyEval_SaveThread()) {}
    ~GilRelease() { PyEval_RestoreThread(state_); }
    GilRelease(const GilRelease&) = delete;
    GilRelease& operator=(const GilRelease&) = delete;

private:
    PyThreadState* state_;
};

}  // namespace dlb
