"""The host's processors: model, flags, speed and topology.

Read from ``/proc/cpuinfo`` and ``/sys/devices/system/cpu``; the parsers take
text so that recorded output from other machines can be tested. Nothing is
cached: CPUs can go on- and offline.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PROC_CPUINFO = "/proc/cpuinfo"
SYS_CPU = "/sys/devices/system/cpu"


@dataclass(frozen=True)
class CpuInfo:
    """Where one logical CPU sits (the classic ``cpuTopology`` entry)."""

    cpu_id: int
    socket_id: int
    die_id: int
    core_id: int
    numa_cell_id: int = 0


@dataclass(frozen=True)
class CpuTopology:
    sockets: int
    cores: int
    threads: int
    online_cpus: list[int]


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """Split /proc/cpuinfo into one ``{field: value}`` dict per processor.

    Architectures that print a trailing global block (ppc64, s390x) get it
    as a last dict without a ``processor`` key.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def read_cpuinfo(path: str = PROC_CPUINFO) -> list[dict[str, str]]:
    with open(path) as f:
        return parse_cpuinfo(f.read())


def model(blocks: list[dict[str, str]]) -> str:
    """The CPU model name as the kernel reports it."""
    for block in blocks:
        for key in ("model name", "cpu", "Processor", "machine"):
            if block.get(key):
                return block[key]
    return ""


def flags(blocks: list[dict[str, str]]) -> list[str]:
    """Feature flags of the first processor (x86 ``flags``, arm ``Features``)."""
    for block in blocks:
        for key in ("flags", "Features", "features"):
            if key in block:
                return block[key].split()
    return []


def frequency(blocks: list[dict[str, str]], *, sys_cpu: str = SYS_CPU) -> str:
    """CPU speed in MHz as a string, e.g. ``'2596.150'``."""
    for block in blocks:
        if "cpu MHz" in block:
            return block["cpu MHz"]
    try:
        with open(os.path.join(sys_cpu, "cpu0/cpufreq/cpuinfo_max_freq")) as f:
            return f"{int(f.read()) / 1000:.3f}"
    except (OSError, ValueError) as e:
        log.debug("no cpu frequency in cpuinfo nor cpufreq: %s", e)
        return "0"


def parse_cpu_list(text: str) -> list[int]:
    """Expand a kernel cpu list like ``'0-3,8,10-11'``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        if sep:
            cpus.extend(range(int(first), int(last) + 1))
        else:
            cpus.append(int(first))
    return cpus


def online_cpus(*, sys_cpu: str = SYS_CPU) -> list[int]:
    with open(os.path.join(sys_cpu, "online")) as f:
        return parse_cpu_list(f.read())


def _read_int(path: str, default: int) -> int:
    try:
        with open(path) as f:
            return int(f.read())
    except FileNotFoundError:
        return default


def cpu_info(*, sys_cpu: str = SYS_CPU,
             cpu_to_node: dict[int, int] | None = None) -> list[CpuInfo]:
    """Socket, die and core of every online CPU, from sysfs topology."""
    cells = cpu_to_node or {}
    result = []
    for cpu in online_cpus(sys_cpu=sys_cpu):
        topo = os.path.join(sys_cpu, f"cpu{cpu}", "topology")
        result.append(CpuInfo(
            cpu_id=cpu,
            socket_id=_read_int(os.path.join(topo, "physical_package_id"), 0),
            die_id=_read_int(os.path.join(topo, "die_id"), 0),
            core_id=_read_int(os.path.join(topo, "core_id"), cpu),
            numa_cell_id=cells.get(cpu, 0)))
    return result


def topology(cpus: list[CpuInfo]) -> CpuTopology:
    """Count sockets, cores and threads of the online CPUs."""
    sockets = {c.socket_id for c in cpus}
    cores = {(c.socket_id, c.die_id, c.core_id) for c in cpus}
    return CpuTopology(sockets=len(sockets), cores=len(cores),
                       threads=len(cpus),
                       online_cpus=sorted(c.cpu_id for c in cpus))


def usable_models(domcaps_xml: str) -> list[str]:
    """Named CPU models libvirt says this host can run, from domcapabilities.

    The classic agent appends them to cpuFlags as ``model_<name>``.
    """
    root = ET.fromstring(domcaps_xml)
    return [m.text for m in root.findall("./cpu/mode[@name='custom']/model")
            if m.get("usable") == "yes" and m.text]


def libvirt_models(conn: Any, *, arch: str, machine: str | None = None,
                   virttype: str = "kvm") -> list[str]:
    """``usable_models`` through a libvirt connection; [] when it cannot tell.

    Raises nothing: a host without a running libvirtd still has capabilities.
    """
    try:
        xml = conn.getDomainCapabilities(None, arch, machine, virttype, 0)
    except Exception as e:  # libvirt.libvirtError, without importing libvirt
        log.info("libvirt domain capabilities unavailable: %s", e)
        return []
    return usable_models(xml)
