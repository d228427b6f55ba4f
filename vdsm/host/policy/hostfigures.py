"""The host's figures a policy reads, from /proc and /sys (no root needed).

Memory in KiB: ``mem_available`` is MemTotal and ``mem_free`` the kernel's
MemAvailable (what can be had without swapping), as MOM named them.
``io_pressure`` is the PSI ``some avg10`` of /proc/pressure/io (0 on a
kernel without PSI). ``ksm_*`` are /sys/kernel/mm/ksm's values (absent
without KSM).
"""

from __future__ import annotations

import os
from typing import Any

from vdsm.host import memory, procfs

KSM_DIR = "/sys/kernel/mm/ksm"
PSI_IO = "/proc/pressure/io"
KSM_FILES = ("run", "pages_to_scan", "sleep_millisecs", "pages_shared",
             "pages_sharing", "merge_across_nodes")


def read(ksm_dir: str = KSM_DIR, psi_io: str = PSI_IO) -> dict[str, Any]:
    """One reading; raises OSError/ValueError when /proc/meminfo cannot be
    read (the other sources are optional)."""
    meminfo = memory.read_meminfo()
    total = meminfo["MemTotal"]
    figures: dict[str, Any] = {
        "mem_available": total,
        "mem_free": meminfo.get("MemAvailable", meminfo.get("MemFree", 0)),
        "swap_total": meminfo.get("SwapTotal", 0),
        "swap_free": meminfo.get("SwapFree", 0),
        "io_pressure": parse_psi(procfs.read_optional(psi_io) or ""),
    }
    for name in KSM_FILES:
        text = procfs.read_optional(os.path.join(ksm_dir, name))
        figures[f"ksm_{name}"] = int(text) if text else 0
    return figures


def parse_psi(text: str) -> float:
    """``some avg10`` of a PSI file ("some avg10=1.50 avg60=..."), else 0."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "some":
            for field in fields[1:]:
                key, _, value = field.partition("=")
                if key == "avg10":
                    return float(value)
    return 0.0
