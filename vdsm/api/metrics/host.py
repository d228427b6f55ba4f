"""Host series from the host statistics sampler's latest figures.

The input is what ``HostStatsSampler.get()`` answers (classic getVdsStats
keys: percents as "12.50" strings, memory in MiB, NIC counters as strings);
the output is Prometheus families in base units (ratios, bytes). Pure.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

MiB = 1024 * 1024

# (classic key, help) of the MiB gauges, by series name.
_MEMORY = {
    "vdsm_host_memory_free_bytes": (
        "memFree", "Memory a new guest could get (free, cache, reclaimable)."),
    "vdsm_host_memory_available_bytes": (
        "memAvailable", "The kernel's MemAvailable estimate."),
    "vdsm_host_memory_committed_bytes": (
        "memCommitted", "Memory promised to guests (or Committed_AS)."),
    "vdsm_host_swap_total_bytes": ("swapTotal", "Swap space."),
    "vdsm_host_swap_free_bytes": ("swapFree", "Unused swap space."),
}

# (classic key, series suffix) of the per-NIC counters.
_NIC_COUNTERS = (
    ("rx", "receive_bytes"), ("tx", "transmit_bytes"),
    ("rxErrors", "receive_errors"), ("txErrors", "transmit_errors"),
    ("rxDropped", "receive_dropped"), ("txDropped", "transmit_dropped"),
)


def number(value: Any) -> float | None:
    """A sampled figure as a float; None when absent or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def host_families(stats: dict[str, Any], *,
                  memory_total: int | None) -> Iterator[Metric]:
    """The host families; ``memory_total`` (bytes) is not sampled, so the
    caller reads it once (a host's memory size does not change)."""
    cpu = GaugeMetricFamily(
        "vdsm_host_cpu_usage_ratio",
        "Share of host CPU time per mode over the last sampling interval.",
        labels=["mode"])
    for mode, key in (("user", "cpuUser"), ("system", "cpuSys"),
                      ("idle", "cpuIdle")):
        value = number(stats.get(key))
        if value is not None:
            cpu.add_metric([mode], value / 100.0)
    yield cpu

    load = number(stats.get("cpuLoad"))
    if load is not None:
        yield GaugeMetricFamily(
            "vdsm_host_load5", "Host load average over 5 minutes.", value=load)

    free = number(stats.get("memFree"))
    if memory_total is not None:
        yield GaugeMetricFamily("vdsm_host_memory_total_bytes",
                                "Host physical memory.", value=memory_total)
        if free is not None:
            yield GaugeMetricFamily(
                "vdsm_host_memory_used_bytes",
                "Memory neither free nor reclaimable (total - free).",
                value=max(0.0, memory_total - free * MiB))
    for name, (key, doc) in _MEMORY.items():
        value = number(stats.get(key))
        if value is not None:
            yield GaugeMetricFamily(name, doc, value=value * MiB)

    boot = number(stats.get("bootTime"))
    if boot is not None:
        yield GaugeMetricFamily("vdsm_host_boot_time_seconds",
                                "Host boot time, seconds since the epoch.",
                                value=boot)
    yield from _nic_families(stats.get("network") or {})


def _nic_families(network: dict[str, Any]) -> Iterator[Metric]:
    families = {
        key: CounterMetricFamily(f"vdsm_host_network_{suffix}",
                                 f"Host NIC {suffix.replace('_', ' ')}.",
                                 labels=["nic"])
        for key, suffix in _NIC_COUNTERS}
    for name, nic in sorted(network.items()):
        for key, family in families.items():
            value = number(nic.get(key))
            if value is not None:
                family.add_metric([name], value)
    yield from families.values()
