"""Per-VM series from the stats getAllVmStats answers (memory only).

The input is the list of classic ``VmStats`` dicts that the virt service
builds from each VM's latest bulk sample; nothing here reaches libvirt, so
a scrape costs the same whether QEMU answers or hangs. Pure.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from vdsm.api.metrics.host import number
from vdsm.virt import status as vm_status

VM = ["vm_id", "vm_name"]
STATUSES = (vm_status.WAIT_FOR_LAUNCH, vm_status.POWERING_UP, vm_status.UP,
            vm_status.PAUSED, vm_status.SAVING_STATE,
            vm_status.RESTORING_STATE, vm_status.POWERING_DOWN,
            vm_status.DOWN, vm_status.MIGRATION_SOURCE,
            vm_status.MIGRATION_DESTINATION, vm_status.REBOOT_IN_PROGRESS)

# classic disk key -> (series, help, scale to base units, counter?)
_DISK = {
    "readBytes": ("vdsm_vm_disk_read_bytes", "Bytes read by the guest.",
                  1.0, True),
    "writtenBytes": ("vdsm_vm_disk_write_bytes",
                     "Bytes written by the guest.", 1.0, True),
    "readOps": ("vdsm_vm_disk_read_ops", "Read requests.", 1.0, True),
    "writeOps": ("vdsm_vm_disk_write_ops", "Write requests.", 1.0, True),
    "readLatency": ("vdsm_vm_disk_read_latency_seconds",
                    "Mean read latency over the last sampling interval.",
                    1e-9, False),
    "writeLatency": ("vdsm_vm_disk_write_latency_seconds",
                     "Mean write latency over the last sampling interval.",
                     1e-9, False),
    "flushLatency": ("vdsm_vm_disk_flush_latency_seconds",
                     "Mean flush latency over the last sampling interval.",
                     1e-9, False),
}

_NIC = {
    "rx": ("vdsm_vm_network_receive_bytes", "Bytes received by the VM NIC."),
    "tx": ("vdsm_vm_network_transmit_bytes", "Bytes sent by the VM NIC."),
}


def vm_families(vms: list[dict[str, Any]]) -> Iterator[Metric]:
    """Families over every VM; a VM not sampled yet has only its status."""
    counts = dict.fromkeys(STATUSES, 0)
    cpu = CounterMetricFamily("vdsm_vm_cpu_seconds",
                              "CPU time the VM's QEMU used.", labels=VM)
    balloon = GaugeMetricFamily("vdsm_vm_balloon_current_bytes",
                                "Guest memory the balloon leaves the guest.",
                                labels=VM)
    balloon_max = GaugeMetricFamily("vdsm_vm_balloon_max_bytes",
                                    "Guest memory without the balloon.",
                                    labels=VM)
    rss = GaugeMetricFamily("vdsm_vm_memory_rss_bytes",
                            "Resident memory of the VM's QEMU process.",
                            labels=VM)
    responding = GaugeMetricFamily(
        "vdsm_vm_monitor_responding",
        "1 while the VM's QEMU answers statistics calls, else 0.", labels=VM)
    disks = {key: (CounterMetricFamily if counter else GaugeMetricFamily)(
        name, doc, labels=VM + ["disk"])
        for key, (name, doc, _, counter) in _DISK.items()}
    nics = {key: CounterMetricFamily(name, doc, labels=VM + ["nic"])
            for key, (name, doc) in _NIC.items()}
    for vm in vms:
        state = vm.get("status", "")
        counts[state] = counts.get(state, 0) + 1
        labels = [str(vm.get("vmId", "")), str(vm.get("vmName", ""))]
        responding.add_metric(labels, 0 if vm.get("monitorResponse") == "-1"
                              else 1)
        cpu_ns = number(vm.get("cpuUsage"))
        if cpu_ns is not None:
            cpu.add_metric(labels, cpu_ns / 1e9)
        info = vm.get("balloonInfo") or {}
        for family, key in ((balloon, "balloon_cur"),
                            (balloon_max, "balloon_max")):
            kib = number(info.get(key))
            if kib is not None:
                family.add_metric(labels, kib * 1024)
        rss_kib = number(vm.get("memRss"))
        if rss_kib is not None:
            rss.add_metric(labels, rss_kib * 1024)
        for disk, figures in sorted((vm.get("disks") or {}).items()):
            for key, family in disks.items():
                value = number(figures.get(key))
                if value is not None:
                    family.add_metric(labels + [disk], value * _DISK[key][2])
        for nic, figures in sorted((vm.get("network") or {}).items()):
            for key, family in nics.items():
                value = number(figures.get(key))
                if value is not None:
                    family.add_metric(labels + [nic], value)
    by_status = GaugeMetricFamily("vdsm_vms", "VMs on this host by status.",
                                  labels=["status"])
    for state, count in counts.items():
        by_status.add_metric([state], count)
    yield by_status
    yield from (cpu, balloon, balloon_max, rss, responding)
    yield from disks.values()
    yield from nics.values()
