"""The whole ``<domain>`` of a VM definition."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vdsm.virt.devices import OVIRT_AGENT_CHANNELS
from vdsm.virt.domxml import disks, graphics, metadata, misc, nics
from vdsm.virt.domxml.base import Element, element, sub, to_string
from vdsm.virt.vmparams import VmDef


@dataclass(frozen=True)
class HostOptions:
    """Host-level settings that shape every domain (from the config)."""

    domain_type: str = "kvm"          # "qemu" = TCG emulation, never KVM
    console_log_dir: str | None = None
    balloon_stats_period: int = 5
    arch: str = "x86_64"
    channel_dir: str | None = None    # oVirt agent sockets: <dir>/<vmId>.<name>


def domain_type(vmdef: VmDef, options: HostOptions) -> str:
    """``kvm`` only when both the host and the VM allow it."""
    if options.domain_type != "kvm" or not vmdef.kvm_enable:
        return "qemu"
    return "kvm"


def build(vmdef: VmDef, options: HostOptions, *, start_time: float,
          conf: dict[str, Any] | None = None) -> str:
    """The domain XML text; deterministic apart from graphics passwords."""
    root = element("domain", type=domain_type(vmdef, options))
    sub(root, "name", vmdef.name)
    sub(root, "uuid", vmdef.vm_id)
    meta = sub(root, "metadata")
    meta.append(metadata.element_for(conf if conf is not None else vmdef.conf(),
                                     start_time=start_time))
    if vmdef.max_mem_mib:
        sub(root, "maxMemory", vmdef.max_mem_mib * 1024,
            slots=vmdef.max_mem_slots, unit="KiB")
    sub(root, "memory", vmdef.mem_mib * 1024, unit="KiB")
    sub(root, "currentMemory", vmdef.mem_mib * 1024, unit="KiB")
    vcpu = sub(root, "vcpu", vmdef.max_vcpus or vmdef.smp, placement="static")
    if vmdef.max_vcpus:
        vcpu.set("current", str(vmdef.smp))
    root.append(_os(vmdef, options))
    features = sub(root, "features")
    if vmdef.acpi:
        sub(features, "acpi")
    sub(features, "apic")
    _cpu(root, vmdef)
    clock = sub(root, "clock", offset="variable", adjustment=vmdef.time_offset,
                basis="utc")
    sub(clock, "timer", name="rtc", tickpolicy="catchup")
    sub(clock, "timer", name="pit", tickpolicy="delay")
    sub(root, "on_poweroff", "destroy")
    sub(root, "on_reboot", "restart")
    sub(root, "on_crash", "destroy")
    devices = sub(root, "devices")
    for el in device_elements(vmdef, options):
        devices.append(el)
    return to_string(root)


def device_elements(vmdef: VmDef, options: HostOptions) -> list[Element]:
    result: list[Element] = []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for dev in vmdef.devices:
        by_type.setdefault(dev["type"], []).append(dev)
    result += [disks.element_for(d) for d in by_type.get("disk", [])]
    result += [nics.element_for(n) for n in by_type.get("interface", [])]
    if by_type.get("channel"):
        result.append(element("controller", type="virtio-serial", index=0))
    result += [misc.channel_element(c, path=_channel_path(vmdef, c, options))
               for c in by_type.get("channel", [])]
    if by_type.get("console"):
        log_file = None
        if options.console_log_dir:
            log_file = os.path.join(options.console_log_dir,
                                    f"{vmdef.vm_id}.log")
        result += misc.console_elements(log_file=log_file)
    if by_type.get("graphics"):
        result.append(element("input", type="tablet", bus="usb"))
    result += [graphics.element_for(g) for g in by_type.get("graphics", [])]
    result += [graphics.video_element(v) for v in by_type.get("video", [])]
    for balloon in by_type.get("balloon", [])[:1]:
        result.append(misc.balloon_element(
            balloon, stats_period=options.balloon_stats_period))
    return result


def _os(vmdef: VmDef, options: HostOptions) -> Element:
    os_el = element("os")
    sub(os_el, "type", "hvm", arch=options.arch, machine=vmdef.machine)
    if vmdef.kernel:
        sub(os_el, "kernel", vmdef.kernel)
        if vmdef.initrd:
            sub(os_el, "initrd", vmdef.initrd)
        if vmdef.kernel_args:
            sub(os_el, "cmdline", vmdef.kernel_args)
    elif not any(d.get("bootOrder") for d in vmdef.devices):
        for dev in vmdef.boot:
            sub(os_el, "boot", dev=dev)
    return os_el


def _cpu(root: Element, vmdef: VmDef) -> None:
    topology = (vmdef.cores_per_socket > 1 or vmdef.threads_per_core > 1
                or bool(vmdef.max_vcpus))
    if not vmdef.cpu_type and not topology and not vmdef.max_mem_mib:
        return
    cpu = sub(root, "cpu")
    if vmdef.cpu_type:
        model, *flags = [p.strip() for p in vmdef.cpu_type.split(",")]
        if model in ("host", "host-passthrough"):
            cpu.set("mode", "host-passthrough")
        else:
            cpu.set("mode", "custom")
            cpu.set("match", "exact")
            sub(cpu, "model", model, fallback="allow")
        for flag in flags:
            if flag[:1] in "+-" and flag[1:]:
                sub(cpu, "feature", name=flag[1:],
                    policy="require" if flag[0] == "+" else "disable")
    vcpus = vmdef.max_vcpus or vmdef.smp
    if topology:
        per_socket = vmdef.cores_per_socket * vmdef.threads_per_core
        sub(cpu, "topology", sockets=vcpus // per_socket,
            cores=vmdef.cores_per_socket, threads=vmdef.threads_per_core)
    if vmdef.max_mem_mib:
        # memory hotplug (DIMMs) needs a guest NUMA topology: one cell
        numa = sub(cpu, "numa")
        sub(numa, "cell", id=0, cpus=f"0-{vcpus - 1}" if vcpus > 1 else "0",
            memory=vmdef.mem_mib * 1024, unit="KiB")


def _channel_path(vmdef: VmDef, channel: dict[str, Any],
                  options: HostOptions) -> str | None:
    """The oVirt agent channel's socket where the agent's reader finds it
    (the classic <vmId>.<channel name>); libvirt names the others."""
    if channel.get("name") not in OVIRT_AGENT_CHANNELS or not options.channel_dir:
        return None
    return os.path.join(options.channel_dir, f"{vmdef.vm_id}.{channel['name']}")
