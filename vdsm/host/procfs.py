"""Parsers of the /proc and /sys text the statistics sampler reads.

Each parser takes the text, so recorded output of real machines is the
unit-test input; the readers beside them do the I/O.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

PROC_STAT = "/proc/stat"
PROC_LOADAVG = "/proc/loadavg"
PROC_NET_DEV = "/proc/net/dev"
SYS_KSM = "/sys/kernel/mm/ksm"
THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


@dataclass(frozen=True)
class CpuTimes:
    """Jiffies (USER_HZ ticks) a CPU spent in each mode since boot."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: int = 0
    irq: int = 0
    softirq: int = 0
    steal: int = 0

    @property
    def total(self) -> int:
        # guest and guest_nice are already counted in user and nice.
        return (self.user + self.nice + self.system + self.idle + self.iowait
                + self.irq + self.softirq + self.steal)


@dataclass(frozen=True)
class ProcStat:
    total: CpuTimes
    cpus: dict[int, CpuTimes]
    boot_time: int


@dataclass(frozen=True)
class NetCounters:
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


def parse_stat(text: str) -> ProcStat:
    total = None
    cpus = {}
    boot_time = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0].startswith("cpu"):
            times = CpuTimes(*(int(v) for v in fields[1:9]))
            if fields[0] == "cpu":
                total = times
            else:
                cpus[int(fields[0][3:])] = times
        elif fields[0] == "btime":
            boot_time = int(fields[1])
    if total is None:
        raise ValueError("no cpu line in /proc/stat")
    return ProcStat(total, cpus, boot_time)


def parse_loadavg(text: str) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in text.split()[:3])
    return one, five, fifteen


def parse_net_dev(text: str) -> dict[str, NetCounters]:
    counters = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        v = [int(x) for x in rest.split()]
        counters[name.strip()] = NetCounters(
            rx_bytes=v[0], rx_packets=v[1], rx_errors=v[2], rx_dropped=v[3],
            tx_bytes=v[8], tx_packets=v[9], tx_errors=v[10], tx_dropped=v[11])
    return counters


def parse_pid_cpu(text: str) -> int:
    """utime + stime ticks from /proc/PID/stat (comm may hold spaces)."""
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is the state (field 3); utime and stime are fields 14, 15.
    return int(fields[11]) + int(fields[12])


def parse_pid_start(text: str) -> int:
    """Start time, in ticks after boot, from /proc/PID/stat (field 22)."""
    return int(text[text.rindex(")") + 2:].split()[19])


def parse_thp(text: str) -> str:
    """'always [madvise] never' -> 'madvise'."""
    start, end = text.find("["), text.find("]")
    if start < 0 or end < start:
        raise ValueError(f"no selected THP mode in {text!r}")
    return text[start + 1:end]


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_optional(path: str) -> str | None:
    try:
        return read_text(path)
    except FileNotFoundError:
        return None


def read_ksm(directory: str = SYS_KSM) -> dict[str, int]:
    """KSM's integer knobs and counters ({} on a kernel without KSM)."""
    values = {}
    for name in ("run", "pages_to_scan", "pages_sharing",
                 "merge_across_nodes"):
        text = read_optional(os.path.join(directory, name))
        if text is not None:
            values[name] = int(text)
    return values


def find_pid(comm: str) -> int | None:
    """The first process whose /proc/PID/comm is ``comm`` (e.g. ksmd)."""
    for path in glob.glob("/proc/[0-9]*/comm"):
        try:
            if read_text(path).strip() == comm:
                return int(path.split("/")[2])
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
    return None


def read_link_state(name: str, sys_net: str) -> tuple[int, str, bool]:
    """(speed Mb/s or 0, operstate, is a physical device) from sysfs."""
    base = os.path.join(sys_net, name)
    try:
        speed = int(read_text(os.path.join(base, "speed")))
    except (OSError, ValueError):
        speed = 0  # EINVAL for lo, virtual and down links
    state = (read_optional(os.path.join(base, "operstate")) or "unknown").strip()
    return (speed if 0 < speed < 2**31 - 1 else 0, state,
            os.path.exists(os.path.join(base, "device")))
