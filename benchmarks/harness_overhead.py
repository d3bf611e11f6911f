"""Per-iteration overhead of the C++-driven timing loop versus pure-Python timing loops.

Every method times an empty callable (the extension's built-in `noop` and a Python
`lambda: None`), so what is measured is the harness alone:

  recorded  median per-iteration sample the method reports for an empty call: the
            floor that the harness adds to every measured iteration
  wall      elapsed time of the whole loop / iterations: the full cost per iteration

Repeats are interleaved (each repeat runs every method once) and the median over
repeats is printed. timeit records no per-iteration samples, so it has no "recorded".

    python benchmarks/harness_overhead.py --iterations 100000 --repeats 9
"""
import argparse
import statistics
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from suite import _native  # noqa: E402


def cpp_loop(fn, iterations: int) -> tuple[float, float]:
    """time_calls: the loop, the clock reads and the stores are C++."""
    t0 = time.perf_counter_ns()
    samples = _native.time_calls(fn, iterations)
    wall = time.perf_counter_ns() - t0
    return float(np.median(samples)), wall / iterations


def python_loop(fn, iterations: int) -> tuple[float, float]:
    """The same measurement written in Python, as favourably as it can be."""
    buf = [0] * iterations  # preallocated, like the C++ buffer
    clock = time.perf_counter_ns  # local name: no global/attribute lookup per read
    start = clock()
    for i in range(iterations):
        t0 = clock()
        fn()
        t1 = clock()
        buf[i] = t1 - t0
    wall = clock() - start
    return float(statistics.median(buf)), wall / iterations


def timeit_loop(fn, iterations: int) -> tuple[float, float]:
    """timeit: a bare call loop (gc disabled), no per-iteration timing at all."""
    return float("nan"), timeit.Timer(fn).timeit(iterations) * 1e9 / iterations


METHODS = {
    "C++ time_calls": cpp_loop,
    "Python perf_counter_ns loop": python_loop,
    "timeit.Timer(fn).timeit(n)/n": timeit_loop,
}
CALLABLES = {"builtin noop": _native.noop, "lambda: None": lambda: None}


def measure(iterations: int, repeats: int) -> dict:
    runs: dict = {(m, c): [] for m in METHODS for c in CALLABLES}
    for _ in range(repeats):
        for (method, name), results in runs.items():
            results.append(METHODS[method](CALLABLES[name], iterations))
    return {key: (statistics.median(r for r, _ in res), statistics.median(w for _, w in res))
            for key, res in runs.items()}


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def print_table(results: dict, iterations: int, repeats: int) -> None:
    print(f"harness overhead per iteration, ns (median of {repeats} repeats x "
          f"{iterations} iterations)")
    print(f"clock read {_native.clock_overhead_ns():.1f} ns, clock resolution "
          f"{_native.clock_resolution_ns()} ns, loop_overhead_ns() "
          f"{_native.loop_overhead_ns():.1f} ns")
    header = (f"{'method':<30} {'callable':<13} {'recorded':>9} {'wall':>8} "
              f"{'recorded/C++':>13} {'wall/C++':>9}")
    print(header)
    print("-" * len(header))
    for (method, name), (recorded, wall) in results.items():
        base_recorded, base_wall = results[("C++ time_calls", name)]
        print(f"{method:<30} {name:<13} {fmt(recorded):>9} {fmt(wall):>8} "
              f"{fmt(recorded / base_recorded, 2):>13} {fmt(wall / base_wall, 2):>9}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=100_000,
                        help="calls per loop (default 100000)")
    parser.add_argument("--repeats", type=int, default=9,
                        help="interleaved repeats; the median is reported (default 9)")
    args = parser.parse_args(argv)
    if args.iterations <= 0 or args.repeats <= 0:
        parser.error("--iterations and --repeats must be > 0")
    print_table(measure(args.iterations, args.repeats), args.iterations, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
