"""NUMA cells, their CPUs, memory and distances, from sysfs.

A kernel without NUMA support has no /sys/devices/system/node: the host is
then reported as one cell 0 holding every online CPU and all memory.
"""

from __future__ import annotations

import glob
import logging
import os
import re

from vdsm.host import cpu, memory

log = logging.getLogger(__name__)

SYS_NODE = "/sys/devices/system/node"
SYS_HUGEPAGES = "/sys/kernel/mm/hugepages"
PROC_NUMA_BALANCING = "/proc/sys/kernel/numa_balancing"

# Classic autoNumaBalancing values.
AUTONUMA_DISABLED = 0
AUTONUMA_ENABLED = 1
AUTONUMA_UNAVAILABLE = 2


def node_ids(*, sys_node: str = SYS_NODE) -> list[int]:
    ids = []
    for path in glob.glob(os.path.join(sys_node, "node[0-9]*")):
        ids.append(int(os.path.basename(path)[4:]))
    return sorted(ids)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def cpu_to_node(*, sys_node: str = SYS_NODE) -> dict[int, int]:
    mapping = {}
    for node in node_ids(sys_node=sys_node):
        text = _read(os.path.join(sys_node, f"node{node}", "cpulist"))
        for c in cpu.parse_cpu_list(text):
            mapping[c] = node
    return mapping


def _hugepage_counts(directory: str) -> dict[str, dict[str, str]]:
    """``{'2048': {'totalPages': 'N'}}`` (size in KiB as a string key, so
    the map survives XML-RPC) for hugepages-<size>kB dirs."""
    pages = {}
    for path in glob.glob(os.path.join(directory, "hugepages-*kB")):
        m = re.match(r"hugepages-(\d+)kB$", os.path.basename(path))
        if m:
            total = _read(os.path.join(path, "nr_hugepages")).strip()
            pages[m.group(1)] = {"totalPages": total}
    return pages


def topology(*, sys_node: str = SYS_NODE,
             sys_cpu: str = cpu.SYS_CPU) -> dict[str, dict]:
    """Classic ``numaNodes``: ``{'0': {'cpus': [...], 'totalMemory': 'MiB',
    'hugepages': {'2048': {'totalPages': '0'}}}}``."""
    ids = node_ids(sys_node=sys_node)
    if not ids:
        return {"0": {
            "cpus": cpu.online_cpus(sys_cpu=sys_cpu),
            "totalMemory": str(memory.mem_size_mib(memory.read_meminfo())),
            "hugepages": _hugepage_counts(SYS_HUGEPAGES)}}
    cells = {}
    for node in ids:
        base = os.path.join(sys_node, f"node{node}")
        meminfo = parse_node_meminfo(_read(os.path.join(base, "meminfo")))
        cells[str(node)] = {
            "cpus": cpu.parse_cpu_list(_read(os.path.join(base, "cpulist"))),
            "totalMemory": str(meminfo.get("MemTotal", 0) // 1024),
            "hugepages": _hugepage_counts(os.path.join(base, "hugepages")),
        }
    return cells


def parse_node_meminfo(text: str) -> dict[str, int]:
    """Parse ``Node 0 MemTotal:  4942040 kB`` lines into ``{'MemTotal': kib}``."""
    return memory.parse_meminfo(re.sub(r"(?m)^Node \d+ ", "", text))


def distances(*, sys_node: str = SYS_NODE) -> dict[str, list[int]]:
    """Classic ``numaNodeDistance``: ``{'0': [10, 21], '1': [21, 10]}``."""
    result = {}
    for node in node_ids(sys_node=sys_node):
        text = _read(os.path.join(sys_node, f"node{node}", "distance"))
        result[str(node)] = [int(d) for d in text.split()]
    return result or {"0": [10]}


def autonuma_status(path: str = PROC_NUMA_BALANCING) -> int:
    try:
        value = int(_read(path))
    except FileNotFoundError:
        return AUTONUMA_UNAVAILABLE
    return AUTONUMA_ENABLED if value else AUTONUMA_DISABLED


def hugepage_sizes(directory: str = SYS_HUGEPAGES) -> list[int]:
    """Supported huge page sizes in KiB (classic ``hugepages``)."""
    return sorted(int(size) for size in _hugepage_counts(directory))
