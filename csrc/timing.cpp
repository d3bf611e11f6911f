// The timed loop. Its body is kept to: clock read, vectorcall, clock read, store.
// No allocation and no object wrappers inside the timed region; dropping the results
// and checking for signals happen outside it.
#include "timing.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "clock.hpp"

namespace dlb {

namespace {

// Checking for Ctrl-C is cheap but not free: do it every 1024 iterations, untimed.
constexpr int64_t kSignalCheckMask = 1023;

PyObject* noop_impl(PyObject*, PyObject*) { Py_RETURN_NONE; }

PyMethodDef noop_def = {"noop", noop_impl, METH_NOARGS,
                        "noop()\n--\n\nDo nothing and return None (an empty built-in callable)."};

}  // namespace

int64_t time_calls(PyObject* fn, PyObject* sync, int64_t* out, int64_t iterations,
                   int64_t budget_ns) {
    if (iterations < 0) throw std::invalid_argument("iterations must be >= 0");
    if (budget_ns < 0) throw std::invalid_argument("budget_ns must be >= 0");
    int64_t spent = 0;
    for (int64_t i = 0; i < iterations; ++i) {
        const int64_t t0 = now_ns();
        PyObject* result = PyObject_CallNoArgs(fn);
        PyObject* synced = (result != nullptr && sync != nullptr) ? PyObject_CallNoArgs(sync)
                                                                  : nullptr;
        const int64_t t1 = now_ns();
        // Dropping the results is harness work, not the callable's: done after t1.
        Py_XDECREF(result);
        if (result == nullptr || (sync != nullptr && synced == nullptr)) return -1;
        Py_XDECREF(synced);
        out[i] = t1 - t0;
        spent += t1 - t0;
        if (budget_ns > 0 && spent >= budget_ns) return i + 1;
        if ((i & kSignalCheckMask) == kSignalCheckMask && PyErr_CheckSignals() != 0) return -1;
    }
    return iterations;
}

PyObject* new_noop_function() { return PyCFunction_NewEx(&noop_def, nullptr, nullptr); }

double loop_overhead_ns(int64_t iterations) {
    if (iterations <= 0) throw std::invalid_argument("iterations must be > 0");
    PyObject* noop = new_noop_function();
    if (noop == nullptr) return -1.0;
    std::vector<int64_t> samples(static_cast<size_t>(iterations));
    const int64_t n = time_calls(noop, nullptr, samples.data(), iterations, 0);
    Py_DECREF(noop);
    if (n < 0) return -1.0;
    // The median, not the mean: one preemption would otherwise dominate the estimate.
    auto mid = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
    std::nth_element(samples.begin(), mid, samples.end());
    return static_cast<double>(*mid);
}

}  // namespace dlb
