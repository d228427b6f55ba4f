"""The host's LUNs and the VGs on them: the device and VG verbs.

getDeviceList, getDevicesVisibility, createVG, getVGInfo, getVGList and
removeVG all start from the same listing (udev and sysfs, read now): a
device is known by its GUID only when the listing has it, and a VG only
when it lies on listed devices. So no verb touches a disk this host would
not offer as a LUN (its root disk is mounted, hence never free), and LVM
reads nothing but the listed devices (its filter is the listing).

Privileged work (pvcreate, vgcreate, vgremove, the reports) runs through
the :class:`~vdsm.storage.lvm.LVM` object, whose runner is supervdsm.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from vdsm.storage import lvm_cmd, lvm_errors
from vdsm.storage.devices import blockdev, devicelist, sysfs, visibility
from vdsm.storage.devices.blockdev import BlockDevice
from vdsm.storage.devices.errors import InaccessiblePhysDev
from vdsm.storage.lvm import LVM, PV, VG

log = logging.getLogger(__name__)

GIB = 1024**3
MIN_VG_SIZE = 10 * GIB            # the classic createVG minimum
UNREADY_TAG = "RHAT_storage_domain_UNREADY"   # createStorageDomain takes it over
VG_ATTR_BITS = ("permission", "resizeable", "exported", "partial",
                "allocation", "clustered")
_VG_TYPE = {sysfs.DEV_FCP: devicelist.FCP_DOMAIN}


class Listing:
    """One reading of the host's LUNs and the LVM identities on them."""

    def __init__(self, devices: list[BlockDevice], lvm: LVM) -> None:
        self.devices = {d.guid: d for d in devices}
        resolve = visibility.listing_resolver(devices)
        self.nodes = {g: resolve(g) or d.devnode for g, d in self.devices.items()}
        self._guids = {d.devnode: g for g, d in self.devices.items()}
        self._guids.update({node: g for g, node in self.nodes.items()})
        paths = list(self.nodes.values())
        # LVM takes at most MAX_DEVICES per command: PVs are read in slices,
        # VGs with all their PVs in one command (else they would look partial)
        self.pvs: list[PV] = [pv for chunk in _chunks([[p] for p in paths])
                              for pv in lvm.pvs(chunk)]
        members: dict[str, list[str]] = {}
        for pv in self.pvs:
            if pv.vg_name and pv.name in self._guids:   # not LVM's "[unknown]"
                members.setdefault(pv.vg_name, []).append(pv.name)
        self.vgs: list[VG] = [vg for chunk in _chunks(list(members.values()))
                              for vg in lvm.vgs(chunk)]

    def guid_of(self, pv_name: str) -> str | None:
        """The GUID of the listed device LVM names ``pv_name``."""
        return self._guids.get(pv_name)

    def pv_map(self) -> dict[str, tuple[str, str, int]]:
        """device path -> (pvUUID, vgUUID, pvsize), as devicelist wants."""
        vg_uuid = {vg.name: vg.uuid for vg in self.vgs}
        return {pv.name: (pv.uuid, vg_uuid.get(pv.vg_name, ""), pv.size)
                for pv in self.pvs}

    def check_unused(self, guids: Sequence[str], *, force: bool = False) -> None:
        """Refuse LUNs a VG may not take (createVG, extendStorageDomain).

        Raises InaccessiblePhysDev (a GUID not listed) and
        PhysDevInitializationError (mounted, partitioned, held, or a PV of
        a VG without ``force``)."""
        unknown = [g for g in guids if g not in self.devices]
        if unknown:
            raise InaccessiblePhysDev(f"Multipath cannot access physical device(s): "
                                      f"{unknown[:10]}")
        pv_of = {self.guid_of(p): v for p, v in self.pv_map().items()}
        for guid in guids:
            dev = self.devices[guid]
            pv = pv_of.get(guid)
            if dev.mounted or dev.partitioned or dev.holders:
                raise lvm_errors.PhysDevInitializationError(
                    f"device {guid} is in use (mounted, partitioned or held)")
            if pv is not None and pv[1] and not force:
                raise lvm_errors.PhysDevInitializationError(
                    f"device {guid} is a PV of VG {pv[1]} (force to reuse it)")

    def vg_uuid_of(self, guid: str) -> str:
        """The UUID of the VG whose PV ``guid`` is ("" for none)."""
        for path, (_, vg_uuid, _) in self.pv_map().items():
            if self.guid_of(path) == guid:
                return vg_uuid
        return ""

    def vg_by_uuid(self, vg_uuid: str) -> VG:
        """Raises VolumeGroupDoesNotExist (also for a VG with PVs this host
        does not list: it is not ours to show or change)."""
        for vg in self.vgs:
            if vg.uuid == vg_uuid and not vg.partial:
                return vg
        raise lvm_errors.VolumeGroupDoesNotExist(
            f"Volume Group {vg_uuid!r} is not on this host's devices")


def _chunks(groups: list[list[str]]) -> list[list[str]]:
    """Groups packed whole into lists of at most MAX_DEVICES; a group
    larger than that is left out, with a log line."""
    chunks: list[list[str]] = []
    for group in groups:
        if len(group) > lvm_cmd.MAX_DEVICES:
            log.warning("VG with %d PVs left out: more than LVM's %d per command",
                        len(group), lvm_cmd.MAX_DEVICES)
        elif chunks and len(chunks[-1]) + len(group) <= lvm_cmd.MAX_DEVICES:
            chunks[-1].extend(group)
        else:
            chunks.append(list(group))
    return chunks


class BlockStorage:
    """The device and VG verbs. Thread-safe as far as LVM is (each verb
    reads its own listing)."""

    def __init__(self, lvm: LVM, *, include_loop: bool = False) -> None:
        """``include_loop``: list loop devices as LUNs (tests only)."""
        self.lvm = lvm
        self._include_loop = include_loop

    def listing(self) -> Listing:
        """Raises BlockDeviceActionError, LVM report errors."""
        return Listing(blockdev.list_devices(include_loop=self._include_loop), self.lvm)

    def device_list(self, *, storage_type: int | None = None,
                    guids: Sequence[str] = (),
                    check_status: bool = True) -> list[dict[str, Any]]:
        listing = self.listing()
        return devicelist.device_list(listing.devices.values(), listing.pv_map(),
                                      storage_type=storage_type or None,
                                      guids=guids, check_status=check_status)

    def visibility(self, guids: Sequence[str]) -> dict[str, bool]:
        devices = blockdev.list_devices(include_loop=self._include_loop)
        return visibility.devices_visibility(
            guids, resolve=visibility.listing_resolver(devices))

    def create_vg(self, name: str, guids: Sequence[str], *, force: bool = False) -> str:
        """createVG: a VG tagged unready on listed, unused devices; its UUID.

        Raises InaccessiblePhysDev (a GUID the host does not list),
        PhysDevInitializationError (a device mounted, partitioned, held, or
        a PV of a VG without ``force``), VolumeGroupSizeError (under
        10 GiB), VolumeGroupAlreadyExistsError; nothing changes then.
        """
        listing = self.listing()
        wanted = list(dict.fromkeys(guids))
        listing.check_unused(wanted, force=force)
        size = sum(listing.devices[g].capacity for g in wanted)
        if size < MIN_VG_SIZE:
            raise lvm_errors.VolumeGroupSizeError(
                f"VG size must be at least {MIN_VG_SIZE // 2**20} MiB, "
                f"devices give {size // 2**20} MiB")
        if any(vg.name == name for vg in listing.vgs):
            raise lvm_errors.VolumeGroupAlreadyExistsError(
                f"Volume Group {name} already exists")
        paths = [listing.nodes[g] for g in wanted]
        # metadata on the first PV only, as the classic block domain has it
        self.lvm.pvcreate(paths[:1], force=force)
        if paths[1:]:
            self.lvm.pvcreate(paths[1:], metadata_ignore=True, force=force)
        return self.lvm.vgcreate(name, paths, tags=[UNREADY_TAG]).uuid

    def remove_vg(self, vg_uuid: str) -> None:
        """removeVG; a VG the host does not have is no error (classic).
        Raises VolumeGroupRemoveError."""
        try:
            vg = self.listing().vg_by_uuid(vg_uuid)
        except lvm_errors.VolumeGroupDoesNotExist:
            log.info("removeVG: no VG %s on this host's devices", vg_uuid)
            return
        self.lvm.set_devices(vg.name, vg.pv_names)
        self.lvm.vgremove(vg.name)

    def vg_info(self, vg_uuid: str) -> dict[str, Any]:
        """getVGInfo. Raises VolumeGroupDoesNotExist."""
        listing = self.listing()
        return _vg_info(listing, listing.vg_by_uuid(vg_uuid))

    def vg_list(self, storage_type: int | None = None) -> list[dict[str, Any]]:
        """getVGList: VGs on listed devices, without their pvlist."""
        listing = self.listing()
        infos = [_vg_info(listing, vg) for vg in listing.vgs if not vg.partial]
        for info in infos:
            del info["pvlist"]
        return [i for i in infos if not storage_type or i["type"] == storage_type]


def _vg_info(listing: Listing, vg: VG) -> dict[str, Any]:
    pvs = [pv for pv in listing.pvs if pv.vg_name == vg.name]
    devs = [listing.devices[g] for pv in pvs if (g := listing.guid_of(pv.name))]
    types = {d.devtype for d in devs}
    devtype = types.pop() if len(types) == 1 else "MIXED"
    return {
        "name": vg.name, "vgUUID": vg.uuid, "vgsize": str(vg.size),
        "vgfree": str(vg.free), "type": _VG_TYPE.get(devtype, devicelist.ISCSI_DOMAIN),
        "attr": dict(zip(VG_ATTR_BITS, vg.attr.ljust(6, "-")[:6], strict=True)),
        "state": "PARTIAL" if vg.partial else "OK",
        "pvlist": [_pv_info(listing, pv, vg.uuid, devtype) for pv in pvs],
    }


def _pv_info(listing: Listing, pv: PV, vg_uuid: str, devtype: str) -> dict[str, Any]:
    guid = listing.guid_of(pv.name) or pv.name
    dev = listing.devices.get(guid)
    entry = (devicelist.device_entry(dev, {}, check_status=False)
             if dev is not None else {})
    return {
        "vendorID": entry.get("vendorID", ""), "productID": entry.get("productID", ""),
        "serial": entry.get("serial", ""), "pathstatus": entry.get("pathstatus", []),
        "pathlist": entry.get("pathlist", []), "fwrev": "0000", "devtype": devtype,
        "capacity": str(pv.size), "devcapacity": str(pv.dev_size),
        "vgUUID": vg_uuid, "pvUUID": pv.uuid, "pe_count": str(pv.pe_count),
        "pe_alloc_count": str(pv.pe_alloc_count), "GUID": guid,
        "discard_max_bytes": entry.get("discard_max_bytes", 0),
        "discard_zeroes_data": 0,
    }
