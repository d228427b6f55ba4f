"""The classic ``VmStats`` struct of one VM, from memory only.

Built from the VM object (status, exit info, display) and the latest
sample the bulk sampler computed (``vm.sample``); never calls libvirt, so
getAllVmStats answers at once even when a QEMU hangs.
"""

from __future__ import annotations

import time
from typing import Any

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
    stats.update(vm.sample)
    stats.update(vm.guest_info)
    if "sampleTime" in vm.sample:
        stats["statsAge"] = f"{max(0.0, time.time() - vm.sample['sampleTime']):.2f}"
    migration = vm.migration
    if migration is not None and migration.active:
        stats["migrationProgress"] = migration.progress
    if vm.is_down and vm.exit is not None:
        stats.update(vm.exit.as_stats())
    return stats
