"""Device changes on a running VM: media, disk and NIC hot(un)plug.

Each change is all or nothing: the hook runs, libvirt applies the device
to the live domain, and only then the VM definition (and the domain
metadata recovery reads) is updated; a failure leaves both as they were.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import libvirt
from lxml import etree

from vdsm.common.errors import HookError, InvalidParameter, VdsmError
from vdsm.virt import devices as vmdev
from vdsm.virt import drives
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import disks, nics
from vdsm.virt.errors import (
    ChangeDiskFailed,
    HotplugDiskFailed,
    HotplugNicFailed,
    HotunplugDiskFailed,
    HotunplugNicFailed,
)
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf, refresh_live, run_hook, running_domain

log = logging.getLogger(__name__)

UNPLUG_TIMEOUT = 15.0
LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE


def _xml(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode")


def change_media(ctx: VirtContext, vm: Vm, spec: Any, *, device: str) -> None:
    """Insert (or with an empty path eject) the media of the CD-ROM/floppy."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        target = next((d for d in vm.devices if d["type"] == "disk"
                       and d["device"] == device), None)
        if target is None:
            raise ChangeDiskFailed(f"Failed to change disk image: the VM has "
                                   f"no {device}")
        path, _ = drives.resolve_spec(spec, resolver=ctx.resolver)
        try:
            dom.updateDeviceFlags(_xml(disks.media_change(target, path)), LIVE)
        except libvirt.libvirtError as e:
            raise ChangeDiskFailed(f"Failed to change disk image: "
                                   f"{e.get_error_message()}") from None
        target["path"] = path
        _committed(vm, dom)


def hotplug_disk(ctx: VirtContext, vm: Vm, spec: Any) -> None:
    disk = vmdev.normalize_disk(spec)
    drives.check_paths([disk], resolver=ctx.resolver)
    with vm.lock:
        dom = running_domain(ctx, vm)
        vmdev.assign_disk_names(vm.devices + [disk])
        drives.prepare([disk], resolver=ctx.resolver)
        try:
            _attach(ctx, vm, dom, "disk_hotplug", _xml(disks.element_for(disk)))
        except (libvirt.libvirtError, HookError) as e:
            drives.teardown([disk], resolver=ctx.resolver)
            raise HotplugDiskFailed(f"Failed to hotplug disk: {_why(e)}") from None
        vm.devices.append(disk)
        _committed(vm, dom)


def hotunplug_disk(ctx: VirtContext, vm: Vm, spec: Any) -> None:
    with vm.lock:
        dom = running_domain(ctx, vm)
        disk = _find(vm, "disk", spec, ("deviceId", "name", "path"))
        if disk is None:
            raise HotunplugDiskFailed("Failed to hotunplug disk: no such disk "
                                      f"{_describe(spec)}")
        try:
            _detach(ctx, vm, dom, "disk_hotunplug", _xml(disks.element_for(disk)),
                    lambda live: any(d["name"] == disk["name"]
                                     for d in live["disks"]))
        except (libvirt.libvirtError, HookError, TimeoutError) as e:
            raise HotunplugDiskFailed(f"Failed to hotunplug disk: {_why(e)}") \
                from None
        vm.devices.remove(disk)
        _committed(vm, dom)
    drives.teardown([disk], resolver=ctx.resolver)


def hotplug_nic(ctx: VirtContext, vm: Vm, spec: Any) -> None:
    nic = vmdev.normalize_nic(spec)
    with vm.lock:
        dom = running_domain(ctx, vm)
        if any(d["type"] == "interface" and d["macAddr"] == nic["macAddr"]
               for d in vm.devices):
            raise HotplugNicFailed(f"Failed to hotplug NIC: MAC {nic['macAddr']} "
                                   "is already in use by this VM")
        try:
            _attach(ctx, vm, dom, "nic_hotplug", _xml(nics.element_for(nic)))
        except (libvirt.libvirtError, HookError) as e:
            raise HotplugNicFailed(f"Failed to hotplug NIC: {_why(e)}") from None
        vm.devices.append(nic)
        _committed(vm, dom)


def hotunplug_nic(ctx: VirtContext, vm: Vm, spec: Any) -> None:
    with vm.lock:
        dom = running_domain(ctx, vm)
        nic = _find(vm, "interface", spec, ("deviceId", "macAddr"))
        if nic is None:
            raise HotunplugNicFailed("Failed to hotunplug NIC: no such NIC "
                                     f"{_describe(spec)}")
        try:
            _detach(ctx, vm, dom, "nic_hotunplug", _xml(nics.element_for(nic)),
                    lambda live: any(i["macAddr"] == nic["macAddr"]
                                     for i in live["interfaces"]))
        except (libvirt.libvirtError, HookError, TimeoutError) as e:
            raise HotunplugNicFailed(f"Failed to hotunplug NIC: {_why(e)}") \
                from None
        vm.devices.remove(nic)
        _committed(vm, dom)


def _attach(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain, point: str,
            xml: str) -> None:
    xml = run_hook(ctx, vm, f"before_{point}", xml) or xml
    dom.attachDeviceFlags(xml, LIVE)
    _after(ctx, vm, point, xml)


def _detach(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain, point: str,
            xml: str, present: Callable[[dict[str, Any]], bool]) -> None:
    xml = run_hook(ctx, vm, f"before_{point}", xml) or xml
    dom.detachDeviceFlags(xml, LIVE)
    # The guest must let go of the device; libvirt reports it gone later.
    deadline = time.monotonic() + UNPLUG_TIMEOUT
    while True:
        refresh_live(vm, dom)
        if not present(vm.live):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the guest did not release the device in "
                               f"{UNPLUG_TIMEOUT:.0f} s")
        time.sleep(0.2)
    _after(ctx, vm, point, xml)


def _after(ctx: VirtContext, vm: Vm, point: str, xml: str) -> None:
    try:
        run_hook(ctx, vm, f"after_{point}", xml)
    except HookError as e:
        log.warning("vm %s: after_%s: %s", vm.id, point, e.message)


def _committed(vm: Vm, dom: libvirt.virDomain) -> None:
    refresh_live(vm, dom)
    persist_conf(vm, dom)


def _find(vm: Vm, kind: str, spec: Any, keys: tuple[str, ...]) -> dict | None:
    if not isinstance(spec, dict):
        raise InvalidParameter(f"Invalid parameter: expected a {kind} struct")
    for key in keys:
        if spec.get(key):
            value = spec[key].lower() if key == "macAddr" else spec[key]
            for dev in vm.devices:
                if dev["type"] == kind and dev.get(key) == value:
                    return dev
    return None


def _describe(spec: Any) -> str:
    return str({k: v for k, v in spec.items() if k != "vmId"}) \
        if isinstance(spec, dict) else repr(spec)


def _why(error: Exception) -> str:
    if isinstance(error, libvirt.libvirtError):
        return error.get_error_message()
    if isinstance(error, VdsmError):
        return error.message
    return str(error)
