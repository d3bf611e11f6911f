"""Does a point's peak memory depend on earlier points? One point before and after a larger one.

For each framework (its deployed inference mode, 2 threads) three points run in order:
SMALL, LARGE, SMALL again, twice: in one shared worker (`--no-worker-per-point`) and with a
fresh worker per point (the default). Printed: each point's peak RSS, the framework's idle
footprint after import, and how far the second SMALL's peak lies from the first's.

    python benchmarks/point_order.py                     # resnet18 @64 bs 2, resnet50 @128 bs 4
    python benchmarks/point_order.py --frameworks pytorch --small resnet18:224:8 \
        --large resnet50:224:8
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from suite.runner import Runner, RunOptions
from suite.spec import Measurement, PointSpec
from suite.topology import read_topology

SETTINGS = {"loop": {"precision": 0.5, "min_time_s": 0.05, "max_time_s": 0.5,
                     "min_iterations": 3, "warmup_max_s": 0.5},
            "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}


class Quiet:
    """A reporter that reports nothing."""

    def start(self, total: int, resumed: int) -> None: ...
    def point_started(self, spec: PointSpec) -> None: ...
    def point_finished(self, m: Measurement) -> None: ...
    def finish(self, measurements: list[Measurement], run_dir: Path) -> None: ...


def point(framework: str, text: str) -> PointSpec:
    """"resnet18:64:2" -> that model at that size and batch, in the deployed mode."""
    from frameworks import deployed_optimization
    model, size, batch = text.split(":")
    return PointSpec("infer", framework, deployed_optimization(framework, "infer"), model,
                     int(batch), int(size), threads=2)


def measure(specs: list[PointSpec], per_point: bool) -> list[Measurement]:
    """The points in order through the runner, sharing one worker or one worker each."""
    with tempfile.TemporaryDirectory() as run_dir:
        opts = RunOptions(settings=SETTINGS, worker_per_point=per_point)
        return Runner(Path(run_dir), read_topology(), opts, Quiet(), lambda s: None).run(specs)


def row(framework: str, workers: str, ms: list[Measurement]) -> str:
    if any(m.status != "ok" for m in ms):
        return f"{framework:<11} {workers:<9} " + "; ".join(m.message for m in ms)
    peaks = [m.memory["peak_rss_mib"] for m in ms]
    idle = ms[0].memory.get("framework_idle_rss_mib", float("nan"))
    return (f"{framework:<11} {workers:<9} {idle:>9.1f} {peaks[0]:>10.1f} {peaks[1]:>10.1f} "
            f"{peaks[2]:>10.1f} {peaks[2] / peaks[0] - 1:>+9.1%}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[-3:]))
    p.add_argument("--frameworks", default="pytorch,tensorflow,mxnet")
    p.add_argument("--small", default="resnet18:64:2", help="model:size:batch")
    p.add_argument("--large", default="resnet50:128:4", help="model:size:batch")
    args = p.parse_args()
    print(f"# peak RSS in MiB of SMALL {args.small}, LARGE {args.large}, SMALL again")
    print(f"{'framework':<11} {'workers':<9} {'idle':>9} {'SMALL':>10} {'LARGE':>10} "
          f"{'SMALL':>10} {'change':>9}")
    for fw in args.frameworks.split(","):
        specs = [point(fw, args.small), point(fw, args.large), point(fw, args.small)]
        for workers, per_point in (("shared", False), ("per point", True)):
            print(row(fw, workers, measure(specs, per_point)), flush=True)


if __name__ == "__main__":
    main()
