"""Bad input gets one clear line naming the valid choices and exit code 2 (CONTRACT §10)."""
import json
import os
import subprocess
import sys

import pytest

from suite.errors import UsageError
from suite.storage import RunInfo, write_run_info
from suite.topology import Core, Topology, read_topology


def dlbench(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "suite", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=env)


TOO_MANY_THREADS = str(read_topology().logical_cpus + 1)   # beyond any machine's count
NO_CUDA = dict(os.environ, CUDA_VISIBLE_DEVICES="")         # hides GPUs where there are some

BAD = [
    (["train", "--models", "resnet5O"], "unknown value 'resnet5O'; valid: caffenet"),
    (["infer", "--frameworks", "caffe2"], "valid: pytorch, mxnet, tensorflow, onnx"),
    (["infer", "--opts", "none,turbo"], "valid: none, script, compile"),
    (["infer", "--device", "tpu"], "valid: cpu, cuda"),
    (["infer", "--device", "cuda"], "CUDA not available"),
    (["infer", "--device", "cuda", "--dry-run"], "--device cuda: CUDA not available: "),
    (["infer", "--dtype", "float32,fp8"],
     "--dtype: unknown value 'fp8'; valid: float32, bfloat16, float16"),
    (["infer", "--dtype", "float32,"], "--dtype: malformed list 'float32,'"),
    (["infer", "--batches", "1,,4"], "malformed list"),
    (["infer", "--batches", "1-x"], "malformed list"),
    (["train", "--batches", "0,10"], "below the minimum 1"),
    (["infer", "--batches", "99999999999999999999"], "above the maximum 2147483647"),
    (["infer", "--batches", "1-1000000"], "lists more than 4096 values"),
    (["infer", "--models", ""], "--models: malformed list ''"),
    (["infer", "--frameworks", ""], "--frameworks: malformed list ''"),
    (["infer", "--batches", ""], "--batches: malformed list ''"),
    (["infer", "--threads", ""], "--threads: malformed list ''"),
    (["infer", "--threads", TOO_MANY_THREADS], "exceed the"),
    (["train", "--lr", "nan"], "--lr: nan must be a finite number above 0"),
    (["train", "--lr", "inf"], "--lr: inf must be a finite number above 0"),
    (["train", "--lr", "-0.1"], "--lr: -0.1 must be a finite number above 0"),
    (["train", "--momentum", "nan"], "--momentum: nan must be a finite number at least 0"),
    (["train", "--weight-decay", "-1"], "--weight-decay: -1 must be a finite number"),
    (["infer", "--memory-limit", "-5"], "--memory-limit: -5 must be a finite number above 0"),
    (["infer", "--seed", "-1"], "--seed: -1 must be a finite number at least 0"),
    (["infer", "--max-time", "inf"], "--max-time: inf must be a finite number above 0"),
    (["infer", "--max-time", "5", "--time-cap", "2"], "--time-cap 2 is below --max-time 5"),
    (["infer", "--min-steps", "-1"], "--min-steps: -1 must be a finite number at least 0"),
    (["models", "--image-size", "-3"], "--image-size: -3 must be a positive integer"),
    (["models", "--image-size", "0"], "--image-size: 0 must be a positive integer"),
    (["infer", "--image-size", "-3"], "image size must be a positive integer"),
    (["infer", "--memory", "far"], "valid: local, remote, both"),
    (["infer", "--ht", "maybe"], "valid: off, on, both"),
    (["infer", "--mapping", "random"], "valid: sequential, interleave"),
    (["infer", "--precision", "0"], "must be a finite number above 0 and below 1"),
    (["infer", "--models", "inception_v3", "--image-size", "16"], "smallest"),
    (["infer", "--batches"], "expected one argument"),
    (["report", "/nonexistent/run"], "not a dlbench run folder"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "not a dlbench run folder"),
    (["frobnicate"], "invalid choice"),
]


IN_A_PROCESS = 10   # the first ten run `python -m suite` in a fresh interpreter (1.5 s each);
# the others call suite.cli.main in this process: the same code from argument parsing to the
# one-line error, without the interpreter's start


@pytest.mark.parametrize("args,expected,fresh", [
    pytest.param(a, e, i < IN_A_PROCESS, id=" ".join(a)) for i, (a, e) in enumerate(BAD)])
def test_bad_input_is_one_line_and_exit_2(args, expected, fresh, tmp_path, monkeypatch,
                                          capsys):
    if fresh:
        r = dlbench(*args, cwd=tmp_path, env=NO_CUDA)
        code, stderr = r.returncode, r.stderr
    else:
        from suite.cli import main
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        try:
            code = main(list(args))
        except SystemExit as e:      # argparse's own errors
            code = e.code
        stderr = capsys.readouterr().err
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert expected in lines[0]
    assert "Traceback" not in stderr
    assert not (tmp_path / "results").exists()  # nothing was started


def machine(nodes: int, cores_per_node: int = 2, ht: bool = False) -> Topology:
    """A fake topology: checks that depend on the machine are tested on every machine."""
    total = nodes * cores_per_node
    cores = [Core(n, c, n, (n * cores_per_node + c,) + ((n * cores_per_node + c + total,)
                                                        if ht else ()))
             for n in range(nodes) for c in range(cores_per_node)]
    return Topology(cores, {n: [cpu for c in cores if c.node == n for cpu in c.cpus]
                            for n in range(nodes)})


def resolve_on(topo: Topology, *argv: str):
    from suite import commands
    from suite.cli import build_parser
    return commands.resolve(build_parser().parse_args(["infer", "--models", "resnet18",
                                                       *argv]), topo)


def test_placement_checks_follow_the_machine():
    with pytest.raises(UsageError, match="second NUMA node"):
        resolve_on(machine(1), "--memory", "remote")
    assert resolve_on(machine(2), "--memory", "remote").memory == "remote"
    with pytest.raises(UsageError, match="no hyper-thread siblings"):
        resolve_on(machine(1), "--ht", "on")
    assert resolve_on(machine(1, ht=True), "--ht", "on").ht == "on"
    with pytest.raises(UsageError, match="5 threads exceed the 4 physical cores"):
        resolve_on(machine(2), "--threads", "5")
    assert resolve_on(machine(2), "--threads", "1-4").threads == [1, 2, 3, 4]
    assert resolve_on(machine(1, 3)).threads == [1, 2, 3]      # default: 1 to all cores


SWEEP = ["infer", "--models", "resnet18", "--batches", "1", "--threads", "1", "--opts", "none",
         "--image-size", "32", "--quiet"]


@pytest.mark.parametrize("out,expected", [
    ("a-file", "run folder {out} is a file, not a folder; give --out a folder"),
    ("a-file/run", "cannot write the run folder {out}: Not a directory"),
    ("/proc/dlbench-run", "cannot write the run folder {out}: No such file or directory"),
])
def test_output_folder_errors_are_one_line(tmp_path, out, expected):
    (tmp_path / "a-file").write_text("")
    r = dlbench(*SWEEP, "--out", out, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == ["dlbench: error: " + expected.format(out=out)]
    assert (tmp_path / "a-file").read_text() == ""


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


@pytest.mark.slow
def test_env_reports_machine_and_frameworks():
    r = dlbench("env")
    assert r.returncode == 0, r.stderr
    assert "physical cores" in r.stdout and "NUMA node 0" in r.stdout
    assert "CUDA not available" in r.stdout or "CUDA available" in r.stdout
    for name in ("pytorch", "mxnet", "tensorflow", "onnx"):
        assert f"  {name}" in r.stdout
    assert "GFLOP/s at 1 thread" in r.stdout       # the float32 peak (suite.peak)


def test_models_lists_the_zoo():
    r = dlbench("models")
    assert r.returncode == 0, r.stderr
    assert "resnet50" in r.stdout and "25,557,032" in r.stdout and "92.6%" in r.stdout


def test_models_labels_multiply_adds_as_gmacs():
    """One convention: work in multiply-adds (GMACs); the stored rate in FLOP/s = 2 x MACs."""
    r = dlbench("models")
    header = r.stdout.splitlines()[0].split()
    assert header == ["name", "title", "input", "params", "GMACs", "top-5"]
    (row,) = [line.split() for line in r.stdout.splitlines() if line.startswith("resnet50 ")]
    assert row[4] == "4.09"                   # torchvision's 4.09 G multiply-adds
    assert "GFLOPs" not in r.stdout and "2 x GMACs" in r.stdout


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
                       "--no-control", *SMALL)
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
        "                                  '--models', 'resnet18', '--batches', '1', '--threads', '1',",
        "                                  '--no-control'])",
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


def test_extra_models_run_when_named_and_stay_out_of_all():
    from suite.models import zoo
    named = {s.model for s in sweep_specs("infer", "--models", "resnet50_v1,bert_large",
                                          "--frameworks", "pytorch", "--batches", "1",
                                          "--threads", "1")}
    assert named == {"resnet50_v1", "bert_large"}
    every = {s.model for s in sweep_specs("infer", "--models", "all", "--frameworks", "pytorch",
                                          "--batches", "1", "--threads", "1")}
    assert every == set(zoo.MODEL_NAMES) and not every & set(zoo.EXTRA_MODEL_NAMES)


def test_dry_run_lists_the_points_and_their_cost_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    r = dlbench("train", "--frameworks", "pytorch", "--models", "resnet18,squeezenet",
                "--batches", "2,4", "--image-size", "32", "--threads", "1", "--out", str(out),
                "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["train pytorch/none resnet18@32 bs=2 thr=1 cpu",
                         "train pytorch/none resnet18@32 bs=4 thr=1 cpu",
                         "train pytorch/none squeezenet@32 bs=2 thr=1 cpu",
                         "train pytorch/none squeezenet@32 bs=4 thr=1 cpu"]
    assert lines[4].startswith("estimate: 4 points x 3 processes, about ")
    assert not out.exists() and not (tmp_path / "results").exists()


# --- GPU sweeps and dtypes -------------------------------------------------------------

def resolve_task(topo: Topology, task: str, *argv: str):
    from suite import commands
    from suite.cli import build_parser
    return commands.resolve(build_parser().parse_args([task, "--models", "resnet18", *argv]),
                            topo)


def test_a_cuda_sweep_runs_one_host_thread_setting_and_every_batch(monkeypatch):
    from suite.sweep import GPU_HOST_THREADS, SEED_BATCHES
    monkeypatch.setattr("suite.launchers.node.require_cuda", lambda: None)
    big, small = machine(2, 16), machine(1, 4)             # 32 and 4 physical cores
    cfg = resolve_task(big, "infer", "--device", "cuda")
    assert cfg.threads == [GPU_HOST_THREADS] == [8]        # not 1..32
    assert cfg.batches == list(SEED_BATCHES)               # 1..1024, as on the CPU
    assert resolve_task(small, "infer", "--device", "cuda").threads == [4]
    assert resolve_task(big, "infer", "--device", "cuda", "--threads", "1,2").threads == [1, 2]
    # training: each of a node's data-parallel ranks gets its share
    assert resolve_task(big, "train", "--device", "cuda", "--nproc-per-node", "8"
                        ).threads == [4]
    assert resolve_task(big, "train", "--device", "cuda").threads == [8]
    assert resolve_task(small, "infer").threads == [1, 2, 3, 4]   # the CPU still sweeps


def test_dtype_takes_a_comma_list_and_every_point_carries_its_dtype():
    from suite.sweep import config_dtypes
    specs = sweep_specs("infer", *SMALL, "--batches", "1,2", "--dtype", "float32,bfloat16")
    assert [(s.dtype, s.batch_size) for s in specs] == [
        ("float32", 1), ("float32", 2), ("bfloat16", 1), ("bfloat16", 2)]
    cfg = resolve_task(machine(1, 2), "infer", "--dtype", "bfloat16,float32,bfloat16")
    assert cfg.dtypes == ["bfloat16", "float32"]
    stored = cfg.to_dict()
    # older readers read one "dtype" string; this one reads "dtypes", or an older "dtype"
    assert stored["dtypes"] == ["bfloat16", "float32"]
    assert stored["dtype"] == "bfloat16,float32"
    assert config_dtypes(stored) == ["bfloat16", "float32"]
    assert config_dtypes({"dtype": "float16"}) == ["float16"]
    assert config_dtypes({}) == ["float32"]


def test_a_cuda_dry_run_costs_minutes_and_says_how_it_guessed(monkeypatch, capsys):
    """The bare `infer --device cuda` estimated about 100 hours (1..N threads); with one
    thread setting and the GPU's peak it is minutes. CUDA and its peak are faked here."""
    import re

    import suite.gpu_peak as gpu_peak
    from suite import commands
    from suite.cli import build_parser
    monkeypatch.setattr("suite.launchers.node.require_cuda", lambda: None)
    peak = gpu_peak.gpu_peak_record({"device_name": "NVIDIA H200", "library": "torch",
                                     "gflops": {"float32": 5e4, "tf32": 4e5,
                                                "bfloat16": 7.6e5, "float16": 7.7e5}})
    monkeypatch.setattr(gpu_peak, "measure_gpu_peak", lambda: peak)
    args = build_parser().parse_args(["infer", "--device", "cuda", "--dtype",
                                      "float32,bfloat16", "--dry-run"])
    assert commands.run_sweep(args, []) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    threads = min(8, read_topology().physical_cores)
    assert lines[0] == f"infer pytorch/none resnet50@224 bs=1 thr={threads} cuda"
    assert lines[11] == f"infer pytorch/none resnet50@224 bs=1 thr={threads} cuda bfloat16"
    assert len(lines) == 23 and lines[22].startswith("estimate: 22 points x 3 processes")
    assert "including CUDA initialisation" in lines[22]
    minutes = re.search(r"about (?:(\d+) h )?(\d+) min", lines[22])
    assert minutes and not minutes.group(1), lines[22]        # under an hour
    assert "GPU peak (dense matrix product): NVIDIA H200: strict float32 50, TF32 400" in err
