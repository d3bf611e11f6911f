"""Bad input gets one clear line naming the valid choices and exit code 2 (CONTRACT §10)."""
import json
import subprocess
import sys

import pytest

from suite.storage import RunInfo, write_run_info


def dlbench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


BAD = [
    (["train", "--models", "resnet5O"], "unknown value 'resnet5O'; valid: caffenet"),
    (["infer", "--frameworks", "caffe2"], "valid: pytorch, mxnet, tensorflow, onnx"),
    (["infer", "--opts", "none,turbo"], "valid: none, script, compile"),
    (["infer", "--device", "tpu"], "valid: cpu, cuda"),
    (["infer", "--device", "cuda"], "CUDA not available"),
    (["infer", "--batches", "1,,4"], "malformed list"),
    (["infer", "--batches", "1-x"], "malformed list"),
    (["train", "--batches", "0,10"], "below the minimum 1"),
    (["infer", "--threads", "64"], "exceed the"),
    (["infer", "--memory", "remote"], "second NUMA node"),
    (["infer", "--memory", "far"], "valid: local, remote, both"),
    (["infer", "--ht", "maybe"], "valid: off, on, both"),
    (["infer", "--mapping", "random"], "valid: sequential, interleave"),
    (["infer", "--precision", "0"], "must be above 0"),
    (["infer", "--models", "inception_v3", "--image-size", "16"], "smallest"),
    (["infer", "--batches"], "expected one argument"),
    (["report", "/nonexistent/run"], "not a dlbench run folder"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "not a dlbench run folder"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize("args,expected", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(args, expected, tmp_path):
    r = dlbench(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "results").exists()  # nothing was started


def test_unreadable_run_folder(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    r = dlbench("report", str(tmp_path))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_newer_schema_is_refused_with_advice(tmp_path):
    write_run_info(tmp_path, RunInfo("x", "infer", [], {}, {}, "now"))
    data = json.loads((tmp_path / "run.json").read_text())
    data["schema"] = 99
    (tmp_path / "run.json").write_text(json.dumps(data))
    r = dlbench("report", str(tmp_path))
    assert r.returncode == 2 and "upgrade dlbench" in r.stderr


def test_every_command_has_help_with_examples():
    for cmd in ("train", "infer", "report", "compare", "models"):
        r = dlbench(cmd, "--help")
        assert r.returncode == 0 and "example" in r.stdout, cmd


def test_env_reports_machine_and_frameworks():
    r = dlbench("env")
    assert r.returncode == 0, r.stderr
    assert "physical cores" in r.stdout and "NUMA node 0" in r.stdout
    assert "CUDA not available" in r.stdout or "CUDA available" in r.stdout
    for name in ("pytorch", "mxnet", "tensorflow", "onnx"):
        assert f"  {name}" in r.stdout


def test_models_lists_the_zoo():
    r = dlbench("models")
    assert r.returncode == 0, r.stderr
    assert "resnet50" in r.stdout and "25,557,032" in r.stdout and "92.6%" in r.stdout


def sweep_specs(*argv):
    """The point specs a train/infer command line expands to (nothing is run)."""
    from suite import commands
    from suite.cli import build_parser
    from suite.sweep import expand
    from suite.topology import read_topology
    cfg = commands.resolve(build_parser().parse_args(list(argv)), read_topology())
    return expand(cfg, commands.input_sizes(cfg))


def modes(specs):
    return sorted({(s.framework, s.optimization) for s in specs})


SMALL = ["--models", "resnet18", "--batches", "1", "--threads", "1"]


def test_default_opts_are_each_frameworks_deployed_mode():
    infer = sweep_specs("infer", "--frameworks", "pytorch,mxnet,tensorflow,onnx", *SMALL)
    assert modes(infer) == [("mxnet", "script"), ("onnx", "script"), ("pytorch", "none"),
                            ("tensorflow", "script")]
    train = sweep_specs("train", *SMALL)      # the default training frameworks
    assert modes(train) == [("mxnet", "script"), ("pytorch", "none"), ("tensorflow", "script")]


def test_explicit_opts_apply_to_every_framework_and_combine_with_deployed():
    both = sweep_specs("infer", "--frameworks", "pytorch,mxnet", "--opts", "deployed,none",
                       *SMALL)
    assert [(s.framework, s.optimization) for s in both] == [
        ("pytorch", "none"), ("mxnet", "script"), ("mxnet", "none")]
    explicit = sweep_specs("infer", "--frameworks", "pytorch,onnx", "--opts", "compile", *SMALL)
    assert modes(explicit) == [("onnx", "compile"), ("pytorch", "compile")]  # onnx: skipped
    alias = sweep_specs("train", "--frameworks", "tensorflow", "--opts", "default", *SMALL)
    assert modes(alias) == [("tensorflow", "script")]


@pytest.mark.parametrize("task,defaults", [
    ("train", "pytorch none (eager), mxnet script (hybridized), tensorflow script (tf.function)."),
    ("infer", "pytorch none (eager), mxnet script (hybridized), tensorflow script (tf.function), "
              "onnx script (ORT optimized)."),
])
def test_help_states_each_frameworks_default_mode(task, defaults):
    r = dlbench(task, "--help")
    assert r.returncode == 0, r.stderr
    assert f"Default: deployed = {defaults}" in " ".join(r.stdout.split())


def test_specs_and_mode_names_import_no_framework():
    """The runner and the report read adapters' declared modes without importing a framework."""
    code = "\n".join([
        "import sys",
        "import frameworks, suite.report",
        "from suite import commands",
        "from suite.cli import build_parser",
        "from suite.sweep import expand",
        "from suite.topology import read_topology",
        "args = build_parser().parse_args(['infer', '--frameworks', 'pytorch,mxnet,tensorflow,onnx',",
        "                                  '--models', 'resnet18', '--batches', '1', '--threads', '1'])",
        "cfg = commands.resolve(args, read_topology())",
        "specs = expand(cfg, commands.input_sizes(cfg))",
        "assert len(specs) == 4",
        "print([frameworks.mode_label(s.framework, s.optimization) for s in specs])",
        "heavy = ('torch', 'tensorflow', 'keras', 'mxnet', 'onnx', 'onnxruntime', 'jax')",
        "print(sorted(m for m in heavy if m in sys.modules))",
    ])
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "['pytorch (eager)', 'mxnet (hybridized)', 'tensorflow (tf.function)', "
        "'onnx (ORT optimized)']", "[]"]
