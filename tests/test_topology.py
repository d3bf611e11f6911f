"""CPU topology from a fake /sys tree, and the core lists of each mapping."""
from pathlib import Path

import pytest

from suite.errors import UsageError
from suite.topology import core_list, memory_node, parse_cpu_list, read_topology, spare_cpus


def fake_sys(tmp_path: Path, sockets=2, cores=4, ht=True):
    """A 2-socket machine: CPU ids like Linux numbers them (siblings offset by all cores)."""
    cpu_root, node_root = tmp_path / "cpu", tmp_path / "node"
    total = sockets * cores
    for s in range(sockets):
        node_cpus = []
        for c in range(cores):
            for t in range(2 if ht else 1):
                cpu = s * cores + c + t * total
                d = cpu_root / f"cpu{cpu}" / "topology"
                d.mkdir(parents=True)
                (d / "physical_package_id").write_text(str(s))
                (d / "core_id").write_text(str(c))
                node_cpus.append(cpu)
        nd = node_root / f"node{s}"
        nd.mkdir(parents=True)
        (nd / "cpulist").write_text(",".join(map(str, sorted(node_cpus))))
    return cpu_root, node_root, list(range(total * (2 if ht else 1)))


@pytest.fixture
def topo(tmp_path, monkeypatch):
    cpu_root, node_root, cpus = fake_sys(tmp_path)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(cpus))
    return read_topology(cpu_root, node_root)


def test_parse_cpu_list():
    assert parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]


def test_reads_cores_siblings_and_nodes(topo):
    assert topo.physical_cores == 8 and topo.logical_cpus == 16
    assert topo.sibling_map()[0] == [0, 8]
    assert topo.nodes[1] == [4, 5, 6, 7, 12, 13, 14, 15]


def test_sequential_and_interleave_mappings(topo):
    assert core_list(topo, 3, "sequential", ht=False) == [0, 1, 2]
    assert core_list(topo, 4, "interleave", ht=False) == [0, 4, 1, 5]
    assert core_list(topo, 3, "sequential", ht=True) == [0, 8, 1]


def test_too_many_threads_is_a_usage_error(topo):
    with pytest.raises(UsageError, match="valid: 1-8"):
        core_list(topo, 9, "sequential", ht=False)
    assert len(core_list(topo, 16, "sequential", ht=True)) == 16


def test_remote_memory_is_another_node(topo):
    assert memory_node(topo, [0, 1], "local") == 0
    assert memory_node(topo, [0, 1], "remote") == 1
    assert memory_node(topo, [4], "remote") == 0


def test_spare_cpu_is_off_the_measured_cores(topo):
    assert spare_cpus(topo, [0, 1]) == [3]           # the last free core of node 0
    assert spare_cpus(topo, [4]) == [7]              # the measured cores' node
    assert spare_cpus(topo, [0, 8, 1, 9, 2, 10, 3, 11]) == [7]  # node 0 full: node 1
    assert spare_cpus(topo, [3, 7, 2, 6, 1, 5, 0]) == [4]  # the one free core, on node 1
    assert spare_cpus(topo, list(range(8))) == []    # every core measured


def test_remote_on_single_node_machine_is_refused(tmp_path, monkeypatch):
    cpu_root, node_root, cpus = fake_sys(tmp_path, sockets=1, cores=2, ht=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(cpus))
    one = read_topology(cpu_root, node_root)
    with pytest.raises(UsageError, match="second NUMA node"):
        memory_node(one, [0], "remote")


def test_the_node_is_read_whatever_this_processs_affinity(tmp_path, monkeypatch):
    """A Slurm task bound to one CPU (TaskPlugin=task/affinity) still reads its node; the
    affinity is a fact beside it, and a job places its ranks on the job's CPUs."""
    from suite import env
    from suite.topology import rank_core_lists
    cpu_root, node_root, _ = fake_sys(tmp_path)          # 2 sockets x 4 cores x 2 threads
    (cpu_root / "online").write_text("0-15\n")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    view = read_topology(cpu_root, node_root)            # placement: what we may run on
    assert view.physical_cores == 1 and view.allowed == (0,)
    assert (view.whole().physical_cores, view.whole().logical_cpus) == (8, 16)
    job = read_topology(cpu_root, node_root, cpus=[0, 1, 8, 9])
    assert job.physical_cores == 2 and job.sibling_map()[0] == [0, 8]
    assert rank_core_lists(job, 1, 2, "sequential", False) == [[0], [1]]
    monkeypatch.setattr(env, "gpu_info", lambda: [])
    host = env.host_fingerprint(view)
    assert (host["physical_cores"], host["logical_cores"], host["sockets"],
            host["usable_cpus"]) == (8, 16, 2, "0")


def test_online_cpus_fall_back_to_the_cpu_folders_then_cpuinfo(tmp_path):
    from suite.topology import online_cpus
    cpu_root, _, _ = fake_sys(tmp_path, sockets=1, cores=2, ht=False)
    assert online_cpus(cpu_root) == [0, 1]
    (cpu_root / "online").write_text("0-3\n")
    assert online_cpus(cpu_root) == [0, 1, 2, 3]
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n\nprocessor\t: 2\n")
    assert online_cpus(tmp_path / "none", info) == [0, 1, 2]
