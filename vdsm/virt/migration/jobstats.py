"""libvirt's migration job statistics as the classic progress figures."""

from __future__ import annotations

from typing import Any

import libvirt


def progress(stats: dict[str, Any]) -> int:
    """Percent done, 0-99 while the job runs (100 is only said at the end)."""
    total = stats.get("data_total") or 0
    remaining = stats.get("data_remaining")
    if not total or remaining is None:
        return 0
    return max(0, min(99, int(100 - 100 * remaining / total)))


def running(stats: dict[str, Any]) -> bool:
    return stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) in (
        libvirt.VIR_DOMAIN_JOB_BOUNDED, libvirt.VIR_DOMAIN_JOB_UNBOUNDED)


def started(stats: dict[str, Any]) -> bool:
    """A running job that has begun sending memory."""
    return running(stats) and bool(stats.get("data_remaining")) \
        and stats.get("memory_iteration", 1) >= 1


def summary(stats: dict[str, Any]) -> dict[str, Any]:
    """The figures migrateStatus reports beside the progress."""
    out: dict[str, Any] = {}
    for key, name in (("data_remaining", "dataRemaining"),
                      ("data_total", "dataTotal"),
                      ("memory_iteration", "memoryIteration"),
                      ("memory_dirty_rate", "dirtyRate"),
                      ("time_elapsed", "elapsedMs"),
                      ("downtime", "downtime")):
        if key in stats:
            out[name] = int(stats[key])
    return out
