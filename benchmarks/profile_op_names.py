"""Every op name the four profilers report on the zoo's models, for tests/profile_op_names.json.

Profiles (suite.profiling.driver, short windows) each model below in training (pytorch,
mxnet, tensorflow; each framework's deployed mode) and inference (the four frameworks, the
deployed mode and `none`) at a small size, batch 2, one thread, and writes the sorted op
names per framework. tests/test_profiling.py classifies every name in that file: the ones
that land in "other" must be exactly `suite.profiling.classes.DELIBERATE_OTHER`.

    .venv/bin/python benchmarks/profile_op_names.py [--out tests/profile_op_names.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from suite import storage
from suite.profiling.driver import profile_points, profile_settings
from suite.spec import Measurement, PointSpec

MODELS = {"resnet18": 32, "squeezenet": 32, "caffenet": 67, "nin": 39, "inception_bn": 32,
          "inception_v3": 75, "resnext50": 32, "vgg16": 32, "bert_base": 8}
TRAIN = {"pytorch": "none", "mxnet": "script", "tensorflow": "script"}
INFER = {"pytorch": ("none", "script"), "mxnet": ("none", "script"),
         "tensorflow": ("none", "script"), "onnx": ("none", "script")}
SHORT = {"profile": {"warmup_s": 0.05, "warmup_steps": 2, "train_warmup_steps": 3,
                     "window_s": 0.05, "min_steps": 2}}


def specs() -> list[PointSpec]:
    out = []
    for model, size in MODELS.items():
        if model != "bert_base":
            out += [PointSpec("train", fw, opt, model, 2, size, threads=1)
                    for fw, opt in TRAIN.items()]
        out += [PointSpec("infer", fw, opt, model, 2, size, threads=1)
                for fw, opts in INFER.items() for opt in opts]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/profile_op_names.json")
    args = parser.parse_args()
    names: dict[str, set[str]] = {}
    failed = []
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        storage.write_run_info(run, storage.RunInfo("names", "train", [], {}, {}, ""))
        for spec in specs():
            storage.append_measurement(run, Measurement(spec, samples_ns=[10**6] * 3))
        for m in profile_points(run, settings=profile_settings({}, SHORT),
                                progress=lambda line: print(line, file=sys.stderr)):
            if m.profile.get("status") != "ok":
                failed.append(f"{m.spec.label()}: {m.profile.get('reason')}")
                continue
            names.setdefault(m.spec.framework, set()).update(
                op["name"] for op in m.profile["ops"])
    data = {fw: sorted(found) for fw, found in sorted(names.items())}
    Path(args.out).write_text(json.dumps({"models": MODELS, "names": data}, indent=1) + "\n")
    print(f"{sum(len(v) for v in data.values())} names from {len(specs())} points in "
          f"{time.time() - started:.0f} s -> {args.out}")
    for line in failed:
        print(f"not profiled: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
