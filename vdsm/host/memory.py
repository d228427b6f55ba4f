"""Host memory figures from /proc/meminfo (values in KiB unless named MiB)."""

from __future__ import annotations

PROC_MEMINFO = "/proc/meminfo"


def parse_meminfo(text: str) -> dict[str, int]:
    """``{'MemTotal': 24634092, ...}`` in KiB (HugePages_* are page counts)."""
    info: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and fields:
            try:
                info[key.strip()] = int(fields[0])
            except ValueError:
                continue
    return info


def read_meminfo(path: str = PROC_MEMINFO) -> dict[str, int]:
    with open(path) as f:
        return parse_meminfo(f.read())


def mem_size_mib(meminfo: dict[str, int]) -> int:
    return meminfo["MemTotal"] // 1024


def free_mib(meminfo: dict[str, int]) -> int:
    """Memory a new guest could get: free, page cache and reclaimable slab."""
    kib = (meminfo.get("MemFree", 0) + meminfo.get("Cached", 0)
           + meminfo.get("Buffers", 0) + meminfo.get("SReclaimable", 0))
    return kib // 1024


def used_percent(meminfo: dict[str, int]) -> int:
    """Percent of memory neither free nor reclaimable (classic ``memUsed``)."""
    total = meminfo["MemTotal"]
    reclaimable = (meminfo.get("MemFree", 0) + meminfo.get("Cached", 0)
                   + meminfo.get("Buffers", 0) + meminfo.get("SReclaimable", 0))
    return 100 - int(100.0 * reclaimable / total)


def swap_mib(meminfo: dict[str, int]) -> tuple[int, int]:
    """(total, free) swap in MiB."""
    return meminfo.get("SwapTotal", 0) // 1024, meminfo.get("SwapFree", 0) // 1024
