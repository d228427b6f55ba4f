"""The classic ``VmStats`` struct of one VM, from memory only.

Built from the VM object (status, exit info, display) and the latest
sample the bulk sampler computed (``vm.sample``); never calls libvirt, so
getAllVmStats answers at once even when a QEMU hangs.
"""

from __future__ import annotations

import time
from typing import Any

from vdsm.virt import qosparams
from vdsm.virt.snapdrives import stats_ids
from vdsm.virt.vm import Vm


def vm_stats(vm: Vm) -> dict[str, Any]:
    vmdef = vm.vmdef
    stats: dict[str, Any] = {
        "vmId": vm.id,
        "vmName": vmdef.name,
        "status": vm.status,
        "elapsedTime": str(vm.elapsed()),
        "monitorResponse": "-1" if vm.unresponsive_since is not None else "0",
        "timeOffset": str(vmdef.time_offset),
        "kvmEnable": "true" if vmdef.kvm_enable else "false",
        "acpiEnable": "true" if vmdef.acpi else "false",
        "vmType": "kvm",
        "pauseCode": vm.pause_code,
        "guestAgentConnected": vm.agent_connected,
        "vcpuCount": str(vmdef.smp),
    }
    stats.update(vm.display_info())
    stats.update(qosparams.stats(vm.conf.get("qos") or {},
                                 qosparams.disk_drives(vm.live.get("disks", []))))
    stats.update(vm.sample)
    if vm.thin_disks and "disks" in stats:
        stats["disks"] = {name: dict(d, **vm.thin_disks.get(name, {}))
                          for name, d in stats["disks"].items()}
    if "disks" in stats:    # the active layer's ids (they move on snapshot)
        ids = stats_ids(vm.devices)
        stats["disks"] = {name: dict(d, **ids.get(name, {}))
                          for name, d in stats["disks"].items()}
    stats.update(vm.guest_info)
    # a copy, without vm.lock: stats never wait for an operation
    stats["vmJobs"] = {i: m.vm_job() for i, m in dict(vm.block_jobs).items()}
    if not vm.is_down:
        merge_ovirt_agent(stats, vm.ovirt_agent_info)
    if vm.balloon_target is not None and "balloonInfo" in stats:
        stats["balloonInfo"] = dict(stats["balloonInfo"],
                                    balloon_target=str(vm.balloon_target))
    guaranteed = vm.conf.get("memGuaranteedSize")   # MiB: the policy's floor
    if guaranteed and "balloonInfo" in stats:
        stats["balloonInfo"] = dict(stats["balloonInfo"],
                                    balloon_min=str(int(guaranteed) * 1024))
    if "sampleTime" in vm.sample:
        stats["statsAge"] = f"{max(0.0, time.time() - vm.sample['sampleTime']):.2f}"
    migration = vm.migration
    if migration is not None and migration.active:
        stats["migrationProgress"] = migration.progress
    if vm.is_down and vm.exit is not None:
        stats.update(vm.exit.as_stats())
    return stats


def merge_ovirt_agent(stats: dict[str, Any], info: dict[str, Any]) -> None:
    """The oVirt guest agent's facts where qemu-ga and the sample have
    none (classic preference); its applications join qemu-ga's."""
    for key, value in info.items():
        if key == "appsList" and "appsList" in stats:
            stats["appsList"] = list(stats["appsList"]) + [
                a for a in value if a not in stats["appsList"]]
        else:
            stats.setdefault(key, value)
