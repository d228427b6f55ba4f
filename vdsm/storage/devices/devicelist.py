"""The getDeviceList answer: block device records in the classic shape.

The PV/VG identity of each device comes in as a mapping from device path
to (pvUUID, vgUUID) (or (pvUUID, vgUUID, pvSize)) made by the LVM module,
so this module reads no LVM metadata and its answer is as fresh as the
mapping. A device is "used" when it is a PV of a VG, is partitioned, is
mounted or has holders (a map or array built on it): pvcreate would refuse
or destroy something; otherwise "free" (a PV left by a removed VG is free,
as the classic pvcreate test found it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vdsm.storage.devices import blockdev, sysfs
from vdsm.storage.devices.blockdev import BlockDevice, Path

# storage types of the API that select devices by transport
ISCSI_DOMAIN = 3
FCP_DOMAIN = 2
_TYPE_MATCH = {ISCSI_DOMAIN: (sysfs.DEV_ISCSI, "MIXED"),
               FCP_DOMAIN: (sysfs.DEV_FCP, "MIXED")}

PvMap = Mapping[str, Sequence[Any]]


def _pv_of(dev: BlockDevice, pvs: PvMap) -> Sequence[Any] | None:
    names = {dev.devnode, f"/dev/mapper/{dev.guid}"}
    for path, identity in pvs.items():
        if path in names or os.path.realpath(path) == dev.devnode:
            return identity
    return None


def _path_status(path: Path) -> dict[str, Any]:
    return {"physdev": path.name, "state": path.state, "capacity": str(path.capacity),
            "lun": str(path.lun), "type": path.devtype}


def _iscsi_connection(root: str, session: str) -> dict[str, str]:
    """The classic IscsiSessionInfo of a session, from /sys/class (no
    credentials: they are root-only there and never put in a listing)."""
    conn = f"connection{session.removeprefix('session')}:0"

    def attr(cls: str, obj: str, name: str) -> str:
        return sysfs.class_attr(root, cls, obj, name) or ""

    return {
        "connection": attr("iscsi_connection", conn, "persistent_address"),
        "port": attr("iscsi_connection", conn, "persistent_port"),
        "iqn": attr("iscsi_session", session, "targetname"),
        "portal": attr("iscsi_session", session, "tpgt"),
        "initiatorname": attr("iscsi_session", session, "ifacename") or "default",
    }


def status_of(dev: BlockDevice, pv: Sequence[Any] | None) -> str:
    in_vg = pv is not None and bool(pv[1])
    in_use = in_vg or dev.partitioned or dev.holders or dev.mounted
    return "used" if in_use else "free"


def device_entry(dev: BlockDevice, pvs: PvMap, *,
                 root: str = sysfs.SYSFS_ROOT,
                 check_status: bool = True) -> dict[str, Any]:
    """One classic BlockDeviceInfo dict."""
    pv = _pv_of(dev, pvs)
    sessions = dict.fromkeys(p.session for p in dev.paths if p.session)
    return {
        "GUID": dev.guid,
        "capacity": str(dev.capacity),
        "devtype": dev.devtype,
        "fwrev": dev.fwrev,
        "logicalblocksize": str(dev.logical_block_size),
        "physicalblocksize": str(dev.physical_block_size),
        "pathlist": [_iscsi_connection(root, s) for s in sessions],
        "pathstatus": [_path_status(p) for p in dev.paths],
        "productID": dev.product,
        "vendorID": dev.vendor,
        "serial": dev.serial,
        "pvUUID": pv[0] if pv else "",
        "vgUUID": pv[1] if pv else "",
        "pvsize": str(pv[2]) if pv and len(pv) > 2 else "",
        "partitioned": dev.partitioned,
        "status": status_of(dev, pv) if check_status else "unknown",
        "discard_max_bytes": dev.discard_max_bytes,
        "discard_zeroes_data": dev.discard_zeroes_data,
    }


def device_list(devices: Iterable[BlockDevice], pvs: PvMap, *,
                storage_type: int | None = None, guids: Iterable[str] = (),
                check_status: bool = True,
                root: str = sysfs.SYSFS_ROOT) -> list[dict[str, Any]]:
    """The getDeviceList answer for ``devices`` (from blockdev.list_devices):
    only the ``guids`` asked for (all when empty), only iSCSI or FCP devices
    when ``storage_type`` is ISCSI_DOMAIN or FCP_DOMAIN."""
    wanted = set(guids)
    types = _TYPE_MATCH.get(storage_type) if storage_type is not None else None
    return [device_entry(d, pvs, root=root, check_status=check_status)
            for d in devices
            if (not wanted or d.guid in wanted)
            and (types is None or d.devtype in types)]


def host_device_list(pvs: PvMap, *, storage_type: int | None = None,
                     guids: Iterable[str] = (), check_status: bool = True,
                     include_loop: bool = False,
                     path_states: Mapping[str, str] | None = None,
                     ) -> list[dict[str, Any]]:
    """getDeviceList for this host: udev and sysfs read now, ``pvs`` and
    ``path_states`` (device-mapper's, from supervdsm's multipath_maps where
    multipathd runs) from the caller. Raises BlockDeviceActionError."""
    devices = blockdev.list_devices(include_loop=include_loop,
                                    path_states=path_states)
    return device_list(devices, pvs, storage_type=storage_type, guids=guids,
                       check_status=check_status)
