"""Host devices in a running VM: hotplugHostdev and hotunplugHostdev.

Written for hosts with an IOMMU: a PCI device is detached from its host
driver (VFIO, through libvirt) before its ``<hostdev>`` is attached, and
given back after it leaves the VM. All or nothing: when one device of a
request fails, the ones already plugged are unplugged and reattached.
Thread-safe: each change runs under the VM's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import libvirt

from vdsm.common.errors import HostdevDetachFailed, InvalidParameter
from vdsm.host.hostdev import domxml
from vdsm.virt.context import VirtContext
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf, refresh_live, running_domain

log = logging.getLogger(__name__)

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE


class HostDevices(Protocol):
    """vdsm.host.hostdev.service.HostdevService, as a VM uses it."""

    def detach(self, name: str) -> dict[str, Any]: ...

    def reattach(self, name: str) -> None: ...


def hotplug(ctx: VirtContext, vm: Vm, hostdevs: HostDevices,
            names: list[str]) -> list[str]:
    """Plug every device of ``names``; returns them. HostdevDetachFailed
    (or InvalidParameter for an unknown device) leaves the VM as it was."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        plugged = _plugged(vm)
        undo: list[Callable[[], None]] = []
        try:
            for name in names:
                if name in plugged:
                    raise InvalidParameter(f"Invalid parameter: {name} is "
                                           f"already assigned to {vm.id}")
                params = hostdevs.detach(name)
                if params["capability"] == "pci":
                    undo.append(lambda n=name: hostdevs.reattach(n))
                xml = domxml.hostdev(name, params)
                _attach(dom, name, xml)
                undo.append(lambda x=xml: dom.detachDeviceFlags(x, LIVE))
                plugged[name] = xml
        except Exception:
            for action in reversed(undo):
                _undo(vm, action)
            raise
        _commit(vm, dom, plugged)
        return list(names)


def hotunplug(ctx: VirtContext, vm: Vm, hostdevs: HostDevices,
              names: list[str]) -> list[str]:
    """Unplug those of ``names`` the VM has; returns the ones unplugged
    (a device that fails stays plugged and is left out, logged)."""
    with vm.lock:
        dom = running_domain(ctx, vm)
        plugged = _plugged(vm)
        done = []
        for name in names:
            xml = plugged.get(name)
            if xml is None:
                log.warning("vm %s: %s is not assigned to it", vm.id, name)
                continue
            try:
                dom.detachDeviceFlags(xml, LIVE)
            except libvirt.libvirtError as e:
                log.error("vm %s: unplugging %s failed: %s", vm.id, name,
                          e.get_error_message())
                continue
            del plugged[name]
            done.append(name)
            if 'type="pci"' in xml:
                hostdevs.reattach(name)
        _commit(vm, dom, plugged)
        return done


def _plugged(vm: Vm) -> dict[str, str]:
    return dict(vm.conf.get("hostdevs") or {})


def _attach(dom: Any, name: str, xml: str) -> None:
    try:
        dom.attachDeviceFlags(xml, LIVE)
    except libvirt.libvirtError as e:
        raise HostdevDetachFailed(f"Could not attach host device {name}: "
                                  f"{e.get_error_message()}") from None


def _undo(vm: Vm, action: Callable[[], None]) -> None:
    try:
        action()
    except (libvirt.libvirtError, HostdevDetachFailed) as e:
        log.error("vm %s: undoing a host device hotplug failed: %s", vm.id, e)


def _commit(vm: Vm, dom: Any, plugged: dict[str, str]) -> None:
    vm.conf["hostdevs"] = plugged
    refresh_live(vm, dom)
    persist_conf(vm, dom)
