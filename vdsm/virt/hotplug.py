"""CPU and memory hotplug, and live updates of one device (vmUpdateDevice).

A VM created with ``maxVCpus`` can get vCPUs up to that number; one
created with ``maxMemSize`` (and ``maxMemSlots``) can get DIMMs up to that
size. The request is checked against those limits first; libvirt then
changes the running domain, and only then the definition and the domain
metadata (read by recovery) follow. A refusal leaves the VM as it was.

The guest decides whether it uses what it got: Linux without a udev rule
leaves a new CPU and new memory blocks offline until told to online them.

Thread-safe: each change runs under the VM's lock.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import libvirt
from lxml import etree

from vdsm.virt import vmdevices, vmgraphics
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import nics
from vdsm.virt.domxml.base import element, sub
from vdsm.virt.errors import (
    HotplugMemFailed,
    HotunplugMemFailed,
    SetNumberOfCpusFailed,
    UpdateDeviceFailed,
)
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf, refresh_live, running_domain

log = logging.getLogger(__name__)

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
UNPLUG_TIMEOUT = 15.0     # seconds the guest has to give a DIMM back


def set_number_of_cpus(ctx: VirtContext, vm: Vm, count: Any) -> None:
    """Plug (or unplug) vCPUs so the guest has ``count``; at most the VM's
    maxVCpus. SetNumberOfCpusFailed, nothing changed, otherwise."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        wanted = cpu_count(count, vm.vmdef.max_vcpus or vm.vmdef.smp)
        try:
            dom.setVcpusFlags(wanted, LIVE)
        except libvirt.libvirtError as e:
            raise SetNumberOfCpusFailed(f"Failed to set the number of cpus: "
                                        f"{e.get_error_message()}") from None
        vm.vmdef.smp = wanted
        vm.conf["smp"] = str(wanted)
        _committed(vm, dom)


def cpu_count(value: Any, maximum: int) -> int:
    """The vCPU count asked, from 1 to ``maximum``."""
    try:
        count = int(value) if not isinstance(value, bool) else 0
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= maximum:
        raise SetNumberOfCpusFailed(
            f"Failed to set the number of cpus: {value!r} is not from 1 to "
            f"the VM's maximum {maximum} (maxVCpus)")
    return count


def hotplug_memory(ctx: VirtContext, vm: Vm, params: Any) -> None:
    """Add one DIMM of ``memory.size`` MiB on ``memory.node``; at most the
    VM's maxMemSize in all and maxMemSlots DIMMs. HotplugMemFailed,
    nothing changed, otherwise."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        plugged = list(vm.conf.get("memoryDevices") or [])
        dimm = memory_device(params, mem_mib=int(vm.conf["memSize"]),
                             max_mib=vm.vmdef.max_mem_mib,
                             slots_left=vm.vmdef.max_mem_slots - len(plugged))
        xml = etree.tostring(dimm_element(dimm), encoding="unicode")
        try:
            dom.attachDeviceFlags(xml, LIVE)
        except libvirt.libvirtError as e:
            raise HotplugMemFailed(f"Failed to hotplug memory: "
                                   f"{e.get_error_message()}") from None
        vm.conf["memoryDevices"] = plugged + [dimm]
        vm.conf["memSize"] = int(vm.conf["memSize"]) + dimm["size"]
        guaranteed = params.get("memGuaranteedSize")
        if guaranteed not in (None, ""):
            vm.conf["memGuaranteedSize"] = int(guaranteed)
        _committed(vm, dom)


def hotunplug_memory(ctx: VirtContext, vm: Vm, params: Any, *,
                     timeout: float = UNPLUG_TIMEOUT) -> None:
    """Remove the DIMM ``memory.deviceId`` that hotplugMemory added. The
    guest must offline its memory first (it can when the blocks were
    onlined movable); HotunplugMemFailed when it does not within
    ``timeout`` (the request stays with the guest, which may still give
    the DIMM back later: the definition then follows at the next change)
    or for an unknown DIMM."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        plugged = list(vm.conf.get("memoryDevices") or [])
        spec = params.get("memory") if isinstance(params, dict) else None
        dev_id = spec.get("deviceId") if isinstance(spec, dict) else None
        dimm = next((d for d in plugged if d.get("deviceId") == dev_id), None)
        if not dev_id or dimm is None:
            raise HotunplugMemFailed(f"Failed to hotunplug memory: no DIMM "
                                     f"{dev_id!r} was hotplugged (known: "
                                     f"{[d.get('deviceId') for d in plugged]})")
        alias = f"ua-{dimm['deviceId']}"
        xml = etree.tostring(dimm_element(dimm), encoding="unicode")
        try:
            dom.detachDeviceFlags(xml, LIVE)
            _wait_gone(dom, alias, timeout)
        except libvirt.libvirtError as e:
            raise HotunplugMemFailed(f"Failed to hotunplug memory: "
                                     f"{e.get_error_message()}") from None
        except TimeoutError as e:
            raise HotunplugMemFailed(f"Failed to hotunplug memory: {e}") from None
        vm.conf["memoryDevices"] = [d for d in plugged if d is not dimm]
        vm.conf["memSize"] = int(vm.conf["memSize"]) - dimm["size"]
        guaranteed = params.get("memGuaranteedSize")
        if guaranteed not in (None, ""):
            vm.conf["memGuaranteedSize"] = int(guaranteed)
        vm.log.info("vm %s: DIMM %s (%d MiB) unplugged", vm.id, dev_id,
                    dimm["size"])
        _committed(vm, dom)


def _wait_gone(dom: libvirt.virDomain, alias: str, timeout: float) -> None:
    """Until the live XML has no memory device ``alias`` (libvirt removes
    it when the guest ejected the DIMM)."""
    deadline = time.monotonic() + timeout
    while True:
        root = etree.fromstring(dom.XMLDesc(0))
        if not root.xpath("devices/memory[alias/@name=$a]", a=alias):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the guest did not release DIMM {alias} in "
                               f"{timeout:.0f} s (are its memory blocks "
                               "online_movable?)")
        time.sleep(0.2)


def memory_device(params: Any, *, mem_mib: int, max_mib: int | None,
                  slots_left: int) -> dict[str, Any]:
    """hotplugMemory's ``memory`` checked: ``{size (MiB), node, deviceId}``."""
    if max_mib is None:
        raise HotplugMemFailed("Failed to hotplug memory: the VM was created "
                               "without maxMemSize")
    spec = params.get("memory") if isinstance(params, dict) else None
    if not isinstance(spec, dict):
        raise HotplugMemFailed("Failed to hotplug memory: params needs a "
                               "memory map {size, node}")
    try:
        size = int(spec.get("size"))
        node = int(spec.get("node") or 0)
    except (TypeError, ValueError):
        raise HotplugMemFailed(f"Failed to hotplug memory: size and node must "
                               f"be integers: {spec!r}") from None
    if size <= 0 or node < 0:
        raise HotplugMemFailed(f"Failed to hotplug memory: size {size} MiB, "
                               f"node {node}: both must be positive")
    if mem_mib + size > max_mib:
        raise HotplugMemFailed(f"Failed to hotplug memory: {mem_mib} + {size} "
                               f"MiB is over the VM's maxMemSize {max_mib} MiB")
    if slots_left < 1:
        raise HotplugMemFailed("Failed to hotplug memory: every memory slot "
                               "(maxMemSlots) is used")
    return {"type": "memory", "device": "memory", "size": size, "node": node,
            "deviceId": str(spec.get("deviceId") or uuid.uuid4())}


def dimm_element(dimm: dict[str, Any]) -> etree._Element:
    root = element("memory", model="dimm")
    target = sub(root, "target")
    sub(target, "size", dimm["size"] * 1024, unit="KiB")
    sub(target, "node", dimm["node"])
    sub(root, "alias", name=f"ua-{dimm['deviceId']}")
    return root


def update_device(ctx: VirtContext, vm: Vm, params: Any) -> None:
    """vmUpdateDevice by ``deviceType``: interface (linkActive, network),
    graphics (password, ttl) or disk/cdrom (the CD-ROM's media)."""
    if not isinstance(params, dict):
        raise UpdateDeviceFailed("Failed to update device: params must be a map")
    kind = params.get("deviceType")
    if kind == "interface":
        _update_nic(ctx, vm, params)
    elif kind == "graphics":
        try:
            ttl = int(params.get("ttl") or 0)
        except (TypeError, ValueError):
            raise UpdateDeviceFailed(f"Failed to update device: ttl must be "
                                     f"seconds, got {params.get('ttl')!r}") from None
        extra = params.get("params") if isinstance(params.get("params"), dict) else {}
        vmgraphics.set_ticket(ctx, vm, str(params.get("password") or ""), ttl,
                              str(params.get("existingConnAction") or "disconnect"),
                              {**extra, "graphicsType": params.get("graphicsType")})
    elif kind in ("disk", "cdrom"):
        spec = params.get("drive", params.get("path"))
        if spec is None:
            raise UpdateDeviceFailed("Failed to update device: a CD-ROM change "
                                     "needs path or drive")
        vmdevices.change_media(ctx, vm, spec, device="cdrom")
    else:
        raise UpdateDeviceFailed(f"Failed to update device: deviceType "
                                 f"{kind!r} is not interface, graphics or disk")


def _update_nic(ctx: VirtContext, vm: Vm, params: dict[str, Any]) -> None:
    with vm.lock:
        dom = running_domain(ctx, vm)
        nic = find_nic(vm.devices, params)
        updated = updated_nic(nic, params)
        xml = etree.tostring(nics.element_for(updated), encoding="unicode")
        try:
            dom.updateDeviceFlags(xml, LIVE)
        except libvirt.libvirtError as e:
            raise UpdateDeviceFailed(f"Failed to update device: "
                                     f"{e.get_error_message()}") from None
        nic.update(updated)
        _committed(vm, dom)


def find_nic(devices: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The NIC named by ``alias`` (or ``macAddr``/``deviceId``)."""
    for dev in devices:
        if dev["type"] != "interface":
            continue
        if ((params.get("alias") and params["alias"] in (dev.get("alias"),
                                                        f"ua-{dev.get('deviceId')}"))
                or (params.get("macAddr")
                    and str(params["macAddr"]).lower() == dev["macAddr"])
                or (params.get("deviceId") and params["deviceId"] == dev["deviceId"])):
            return dev
    raise UpdateDeviceFailed(f"Failed to update device: no NIC with alias, "
                             f"macAddr or deviceId of {params!r}")


def updated_nic(nic: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The NIC as it should become; what it does not change stays."""
    updated = dict(nic)
    if params.get("linkActive") not in (None, ""):
        link = str(params["linkActive"]).lower()
        if link not in ("true", "false", "1", "0"):
            raise UpdateDeviceFailed(f"Failed to update device: linkActive "
                                     f"must be true or false, got {link!r}")
        updated["linkActive"] = link in ("true", "1")
    if params.get("network"):
        updated["network"] = str(params["network"])
    if "linkActive" not in params and not params.get("network"):
        raise UpdateDeviceFailed("Failed to update device: nothing to change "
                                 "(give linkActive or network)")
    return updated


def _committed(vm: Vm, dom: libvirt.virDomain) -> None:
    refresh_live(vm, dom)
    persist_conf(vm, dom)
