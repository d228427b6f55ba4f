"""Classic ``getVdsStats`` figures computed from two host samples.

A :class:`Sample` is what the sampler reads in one pass; :func:`compute`
turns the previous and the latest sample into the wire dict (pure, so it is
tested on recorded /proc text).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from vdsm.host import memory, numa, procfs
from vdsm.host.procfs import CpuTimes, NetCounters, ProcStat

log = logging.getLogger(__name__)

SYS_NET = "/sys/class/net"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MiB = 1024 * 1024
DEFAULT_SPEED = 1000  # Mb/s assumed for links that report none (classic)


@dataclass(frozen=True)
class LinkState:
    speed: int
    state: str
    physical: bool


@dataclass
class Sample:
    """Everything read from the kernel at one moment."""

    monotonic: float
    wall: float
    stat: ProcStat
    loadavg: tuple[float, float, float]
    meminfo: dict[str, int]
    net: dict[str, NetCounters]
    links: dict[str, LinkState]
    ksm: dict[str, int] = field(default_factory=dict)
    ksmd_ticks: int | None = None
    self_ticks: tuple[int, int] = (0, 0)  # this process's utime, stime
    thp: str = "never"
    node_mem_free: dict[str, dict] = field(default_factory=dict)
    cpu_nodes: dict[int, int] = field(default_factory=dict)


def take_sample(*, ksmd_pid: int | None, sys_net: str = SYS_NET) -> Sample:
    """Read one sample. Raises OSError/ValueError when a required source
    (/proc/stat, meminfo, loadavg, net/dev) cannot be read or parsed."""
    net = procfs.parse_net_dev(procfs.read_text(procfs.PROC_NET_DEV))
    links = {name: LinkState(*procfs.read_link_state(name, sys_net))
             for name in net}
    thp = procfs.read_optional(procfs.THP_ENABLED)
    ksmd_ticks = None
    if ksmd_pid is not None:
        text = procfs.read_optional(f"/proc/{ksmd_pid}/stat")
        ksmd_ticks = procfs.parse_pid_cpu(text) if text else None
    times = os.times()
    return Sample(
        monotonic=time.monotonic(),
        wall=time.time(),
        stat=procfs.parse_stat(procfs.read_text(procfs.PROC_STAT)),
        loadavg=procfs.parse_loadavg(procfs.read_text(procfs.PROC_LOADAVG)),
        meminfo=memory.read_meminfo(),
        net=net,
        links=links,
        ksm=procfs.read_ksm(),
        ksmd_ticks=ksmd_ticks,
        self_ticks=(round(times.user * CLOCK_TICKS),
                    round(times.system * CLOCK_TICKS)),
        thp=procfs.parse_thp(thp) if thp else "never",
        node_mem_free=_node_mem_free(),
        cpu_nodes=numa.cpu_to_node(),
    )


def _node_mem_free() -> dict[str, dict]:
    """Classic numaNodeMemFree: ``{'0': {'memFree': 'MiB', 'memPercent': N}}``."""
    result = {}
    for node in numa.node_ids():
        info = numa.parse_node_meminfo(procfs.read_text(
            os.path.join(numa.SYS_NODE, f"node{node}", "meminfo")))
        total, free = info.get("MemTotal", 0), info.get("MemFree", 0)
        used = 100 - int(100.0 * free / total) if total else 0
        result[str(node)] = {"memFree": str(free // 1024), "memPercent": used}
    return result


def _cpu_usage(first: CpuTimes, last: CpuTimes) -> tuple[float, float, float]:
    """(user, sys, idle) percent of the time between two samples."""
    total = last.total - first.total
    if total <= 0:
        return 0.0, 0.0, 100.0
    user = 100.0 * ((last.user + last.nice) - (first.user + first.nice)) / total
    system = 100.0 * ((last.system + last.irq + last.softirq)
                      - (first.system + first.irq + first.softirq)) / total
    return user, system, max(0.0, 100.0 - user - system)


def _percent(value: float) -> str:
    return f"{value:.2f}"


def _rate(nbytes: float, interval: float, bytes_per_sec: float) -> str:
    """Percent of a link's capacity used (classic rxRate/txRate)."""
    return f"{min(100.0, 100.0 * nbytes / interval / bytes_per_sec):.1f}"


def _net_stats(first: Sample, last: Sample, interval: float) -> dict[str, Any]:
    network = {}
    rx_total = tx_total = capacity = 0.0
    rx_dropped = tx_dropped = 0
    for name, now in last.net.items():
        before = first.net.get(name, now)
        link = last.links.get(name, LinkState(0, "unknown", False))
        speed = link.speed or DEFAULT_SPEED
        bytes_per_sec = speed * 1000000 / 8
        drx = max(0, now.rx_bytes - before.rx_bytes)
        dtx = max(0, now.tx_bytes - before.tx_bytes)
        network[name] = {
            "name": name,
            "rx": str(now.rx_bytes), "tx": str(now.tx_bytes),
            "rxErrors": str(now.rx_errors), "txErrors": str(now.tx_errors),
            "rxDropped": str(now.rx_dropped), "txDropped": str(now.tx_dropped),
            "rxRate": _rate(drx, interval, bytes_per_sec),
            "txRate": _rate(dtx, interval, bytes_per_sec),
            "speed": str(speed),
            "state": link.state if link.state in ("up", "down") else "unknown",
            "sampleTime": last.wall,
        }
        rx_dropped += now.rx_dropped
        tx_dropped += now.tx_dropped
        if link.physical:
            rx_total += drx
            tx_total += dtx
            capacity += bytes_per_sec
    capacity = capacity or DEFAULT_SPEED * 1000000 / 8
    return {
        "network": network,
        "rxRate": _rate(rx_total, interval, capacity),
        "txRate": _rate(tx_total, interval, capacity),
        "rxDropped": str(rx_dropped), "txDropped": str(tx_dropped),
    }


def _cpu_statistics(first: Sample, last: Sample) -> dict[str, dict]:
    stats = {}
    for cpu_id, now in sorted(last.stat.cpus.items()):
        before = first.stat.cpus.get(cpu_id)
        if before is None:
            continue  # came online since the previous sample
        user, system, idle = _cpu_usage(before, now)
        stats[str(cpu_id)] = {
            "nodeIndex": last.cpu_nodes.get(cpu_id, 0),
            "cpuUser": _percent(user), "cpuSys": _percent(system),
            "cpuIdle": _percent(idle)}
    return stats


def compute(first: Sample, last: Sample) -> dict[str, Any]:
    """The sampled part of getVdsStats between two samples."""
    interval = max(last.monotonic - first.monotonic, 1e-3)
    user, system, idle = _cpu_usage(first.stat.total, last.stat.total)
    meminfo = last.meminfo
    swap_total, swap_free = memory.swap_mib(meminfo)
    ksm = last.ksm
    ticks = CLOCK_TICKS * interval
    ksm_cpu = 0
    if last.ksmd_ticks is not None and first.ksmd_ticks is not None:
        ksm_cpu = round(100.0 * (last.ksmd_ticks - first.ksmd_ticks) / ticks)
    stats: dict[str, Any] = {
        "cpuUser": _percent(user), "cpuSys": _percent(system),
        "cpuIdle": _percent(idle),
        "cpuUserVdsmd": _percent(
            100.0 * (last.self_ticks[0] - first.self_ticks[0]) / ticks),
        "cpuSysVdsmd": _percent(
            100.0 * (last.self_ticks[1] - first.self_ticks[1]) / ticks),
        "cpuLoad": f"{last.loadavg[1]:.2f}",
        "cpuStatistics": _cpu_statistics(first, last),
        "memUsed": str(memory.used_percent(meminfo)),
        "memFree": memory.free_mib(meminfo),
        "memAvailable": meminfo.get("MemAvailable", 0) // 1024,
        "memCommitted": meminfo.get("Committed_AS", 0) // 1024,
        "anonHugePages": str(meminfo.get("AnonHugePages", 0) // 1024),
        "swapTotal": swap_total, "swapFree": swap_free,
        "numaNodeMemFree": last.node_mem_free,
        "ksmState": bool(ksm.get("run", 0)),
        "ksmPages": ksm.get("pages_to_scan", 0),
        "ksmMergeAcrossNodes": bool(ksm.get("merge_across_nodes", 1)),
        "memShared": ksm.get("pages_sharing", 0) * PAGE_SIZE // MiB,
        "ksmCpu": max(0, ksm_cpu),
        "thpState": last.thp,
        "bootTime": str(last.stat.boot_time),
    }
    stats.update(_net_stats(first, last, interval))
    return stats

