"""Your own model, end to end: zoo networks exported to ONNX by torch's exporter (as a user's
file would be), then `python -m suite infer --model-file` in every framework. Prints each
framework's equivalence verdict against ONNX Runtime on the file and the measured points.

    python benchmarks/model_file.py                        # mobilenet_v2 and resnet18 at 64 px
    python benchmarks/model_file.py --models efficientnet_b0 --image-size 96 --out /tmp/mf
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from zoo_helpers import calibrated_weights, export_onnx  # noqa: E402

from suite.models import zoo  # noqa: E402
from suite.models.weights import make_weights  # noqa: E402
from suite.storage import load_measurements  # noqa: E402
from suite import ratios, stats  # noqa: E402


def export(name: str, size: int, folder: Path) -> Path:
    model = zoo.get_model(name, size)
    path = folder / f"my_{name}.onnx"
    export_onnx(model, calibrated_weights(model, make_weights(model)), str(path))
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="mobilenet_v2,resnet18")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--frameworks", default="pytorch,onnx,tensorflow,mxnet")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--threads", default="1")
    p.add_argument("--out", help="folder for the files and the run (default: temporary)")
    args = p.parse_args()
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dlbench-mf-"))
    root.mkdir(parents=True, exist_ok=True)
    files = [export(name, args.image_size, root) for name in args.models.split(",")]
    run = root / "run"
    command = [sys.executable, "-m", "suite", "infer", "--frameworks", args.frameworks,
               "--batches", args.batches, "--threads", args.threads, "--out", str(run), "--no-report"]
    for f in files:
        command += ["--model-file", str(f)]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    info = json.loads((run / "run.json").read_text())
    for name, record in info.get("equivalence", {}).items():
        print(f"\n{name}: {record['summary']}")
        for c in record["checks"]:
            err = c.get("max_rel_err")
            print(f"  {c['framework']:10s} {c.get('optimization', ''):8s} {c['status']}: "
                  + (f"max relative error {err:.2e}" if err is not None else c.get("message", "")))
    print()
    for m in load_measurements(run):
        if m.status == "ok":
            s = stats.point_summary(m)
            print(f"{m.spec.label()}: {stats.ci_text(s.items_per_second, s.items_per_second_ci_low, s.items_per_second_ci_high)} items/s")
        else:
            print(f"{m.spec.label()}: {m.status} {m.message}")
    print("\npaired ratios (throughput over the block's reference, 95% CI over rounds):")
    for r in ratios.run_ratios(load_measurements(run), info.get("config") or {}):
        print(f"  {r.spec.label()} / {r.reference.framework}: {r.ratio:.3f} "
              f"[{r.low:.3f}, {r.high:.3f}] {r.verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
