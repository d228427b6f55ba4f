"""The host devices service: listing, VF counts, detach and reattach.

Built by the virt subsystem over its libvirt connection (``conn`` returns
the live ``virConnect``) and supervdsm (the sysfs write is root's).
Stateless apart from those; thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import libvirt

from vdsm.common.errors import HostdevDetachFailed, InvalidParameter
from vdsm.host.hostdev import nodedev, sriov

log = logging.getLogger(__name__)

STUB_DRIVERS = ("vfio-pci", "pci-stub")


class Privileged(Protocol):
    def call(self, op: str, /, **args: Any) -> Any: ...


class HostdevService:
    def __init__(self, conn: Callable[[], Any], *, supervdsm: Privileged,
                 sysfs: str = nodedev.SYSFS) -> None:
        self._conn = conn
        self._supervdsm = supervdsm
        self._sysfs = sysfs

    def extend_capabilities(self, info: dict[str, Any]) -> None:
        """The classic ``hostdevPassthrough``: 'true' with an IOMMU."""
        info["hostdevPassthrough"] = str(
            nodedev.iommu_available(self._sysfs)).lower()

    def list_by_caps(self, caps: list[str] | None = None
                     ) -> dict[str, dict[str, Any]]:
        """{name: {'params': {...}}} of every node device, or only those
        whose capability is in ``caps``; SCSI devices get the vendor,
        product and /dev/sgN of their storage and generic children."""
        devices = {}
        for dev in self._conn().listAllDevices(0):
            try:
                xml = dev.XMLDesc(0)
            except libvirt.libvirtError:
                continue    # gone between the listing and the read
            name, params = nodedev.parse(xml, sysfs=self._sysfs)
            devices[name] = params
        _add_scsi_children(devices)
        return {name: {"params": params} for name, params in devices.items()
                if not caps or params["capability"] in caps}

    def params(self, name: str) -> dict[str, Any]:
        """One device's params; InvalidParameter when there is no such."""
        return nodedev.parse(self._lookup(name).XMLDesc(0),
                             sysfs=self._sysfs)[1]

    def change_numvfs(self, name: str, numvfs: Any) -> None:
        count = sriov.check_request(name, self.params(name), numvfs)
        self._supervdsm.call("set_sriov_numvfs",
                             pci_address=nodedev.pci_path(name), numvfs=count)

    def detach(self, name: str) -> dict[str, Any]:
        """Give a PCI device to VFIO (libvirt's detach) before a VM gets it;
        USB and SCSI need nothing. Returns its params.
        HostdevDetachFailed without an IOMMU or when libvirt fails."""
        params = self.params(name)
        if params["capability"] != "pci":
            return params
        if params.get("is_assignable") != "true":
            raise HostdevDetachFailed(f"Could not detach host device {name}: "
                                      f"not assignable (a bridge)")
        if not nodedev.iommu_available(self._sysfs):
            raise HostdevDetachFailed(
                f"Could not detach host device {name}: this host has no IOMMU "
                f"({self._sysfs}/kernel/iommu_groups is empty)")
        try:
            self._lookup(name).detachFlags(None, 0)
        except libvirt.libvirtError as e:
            raise HostdevDetachFailed(f"Could not detach host device {name}: "
                                      f"{e.get_error_message()}") from None
        log.info("detached %s from the host", name)
        return params

    def reattach(self, name: str) -> None:
        """Give a PCI device back to its host driver (hostdevReattach).
        Nothing to do (logged) unless it is bound to a stub driver: a
        device its host driver holds is never touched."""
        dev = self._lookup(name)
        params = nodedev.parse(dev.XMLDesc(0), sysfs=self._sysfs)[1]
        if params["capability"] != "pci":
            return
        if params.get("driver") not in STUB_DRIVERS:
            log.info("%s is with its host driver %s: nothing to reattach",
                     name, params.get("driver"))
            return
        try:
            dev.reAttach()
        except libvirt.libvirtError as e:
            raise HostdevDetachFailed(f"Could not reattach host device {name}: "
                                      f"{e.get_error_message()}") from None
        log.info("reattached %s to the host", name)

    def _lookup(self, name: str) -> Any:
        try:
            return self._conn().nodeDeviceLookupByName(name)
        except libvirt.libvirtError:
            raise InvalidParameter(
                f"Invalid parameter: no host device {name!r}") from None


def _add_scsi_children(devices: dict[str, dict[str, Any]]) -> None:
    """A SCSI device's vendor/product (from its storage child) and udev
    path (from its scsi_generic child), as the classic listing shows."""
    for params in devices.values():
        parent = devices.get(params.get("parent", ""))
        if parent is None or parent["capability"] != "scsi":
            continue
        if params["capability"] == "storage":
            for key in ("vendor", "product"):
                if key in params:
                    parent.setdefault(key, params[key])
            if "block_path" in params:
                parent["block_path"] = params["block_path"]
        elif params["capability"] == "scsi_generic" and "udev_path" in params:
            parent["udev_path"] = params["udev_path"]
