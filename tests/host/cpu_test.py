from __future__ import annotations

import os

import pytest

from vdsm.host import cpu

from .recorded import data

# Shape of libvirt's domcapabilities <cpu> element (format documented at
# libvirt.org/formatdomaincaps.html), trimmed to what usable_models reads.
DOMCAPS = """<domainCapabilities>
  <cpu>
    <mode name='host-passthrough' supported='yes'/>
    <mode name='custom' supported='yes'>
      <model usable='yes' vendor='AMD'>EPYC</model>
      <model usable='no' vendor='Intel'>Skylake-Server</model>
      <model usable='yes' vendor='unknown'>qemu64</model>
    </mode>
  </cpu>
</domainCapabilities>"""


def test_parse_recorded_cpuinfo():
    blocks = cpu.parse_cpuinfo(data("proc_cpuinfo.txt"))
    assert [b["processor"] for b in blocks] == ["0", "1"]
    assert cpu.model(blocks) == "AMD EPYC"
    flags = cpu.flags(blocks)
    assert "sse2" in flags and "avx2" in flags and "svm" not in flags
    assert cpu.frequency(blocks) == "2596.150"


def test_parse_cpu_list():
    assert cpu.parse_cpu_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert cpu.parse_cpu_list("0") == [0]
    assert cpu.parse_cpu_list("\n") == []


def test_topology_of_this_machine():
    blocks = cpu.read_cpuinfo()
    processors = [b for b in blocks if "processor" in b]
    cpus = cpu.cpu_info()
    topo = cpu.topology(cpus)
    assert topo.threads == len(processors) == os.cpu_count()
    assert topo.online_cpus == sorted(int(b["processor"]) for b in processors)
    sockets = {b.get("physical id", "0") for b in processors}
    assert topo.sockets == len(sockets)
    cores = {(b.get("physical id", "0"), b.get("core id", b["processor"]))
             for b in processors}
    assert topo.cores == len(cores)


def test_topology_counts():
    cpus = [cpu.CpuInfo(cpu_id=i, socket_id=i // 4, die_id=0, core_id=i % 2)
            for i in range(8)]
    topo = cpu.topology(cpus)
    assert (topo.sockets, topo.cores, topo.threads) == (2, 4, 8)


def test_usable_models():
    assert cpu.usable_models(DOMCAPS) == ["EPYC", "qemu64"]


def test_libvirt_models_tolerates_driver_without_domcaps():
    libvirt = pytest.importorskip("libvirt", reason="python3-libvirt missing")
    conn = libvirt.open("test:///default")
    try:
        assert cpu.libvirt_models(conn, arch="x86_64") == []
    finally:
        conn.close()
