from __future__ import annotations

from vdsm.host import cpu, numa

from .recorded import data


def test_parse_recorded_node_meminfo():
    info = numa.parse_node_meminfo(data("node0_meminfo.txt"))
    assert info["MemTotal"] > info["MemFree"] > 0


def test_topology_covers_online_cpus():
    cells = numa.topology()
    cpus = sorted(c for cell in cells.values() for c in cell["cpus"])
    assert cpus == cpu.online_cpus()
    for cell in cells.values():
        assert int(cell["totalMemory"]) > 0
        assert all(isinstance(size, str) for size in cell["hugepages"])


def test_distances_square():
    dist = numa.distances()
    assert set(dist) == set(numa.topology())
    for row in dist.values():
        assert len(row) == len(dist)


def test_cpu_to_node_matches_topology():
    mapping = numa.cpu_to_node()
    for node, cell in numa.topology().items():
        for c in cell["cpus"]:
            assert mapping.get(c, 0) == int(node)


def test_autonuma_unavailable_without_knob(tmp_path):
    assert numa.autonuma_status(str(tmp_path / "none")) == \
        numa.AUTONUMA_UNAVAILABLE
    knob = tmp_path / "numa_balancing"
    knob.write_text("1\n")
    assert numa.autonuma_status(str(knob)) == numa.AUTONUMA_ENABLED


def test_hugepage_sizes_in_kib():
    sizes = numa.hugepage_sizes()
    assert sizes == sorted(sizes)
    assert all(isinstance(s, int) and s >= 4 for s in sizes)
