"""The block devices a storage domain can be built on, one record each.

A record is a whole disk: a multipath map with its paths, or a single
disk (a SCSI LUN without multipath, a virtio disk, a loop device when a
test asks for them). Paths of a multipath map, partitions, other
device-mapper devices (LVs, crypt), RAM disks and empty devices are left
out: none of them is a LUN a VG may take. Identities come from udev and
sysfs; see :mod:`udev` and :mod:`sysfs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from vdsm.storage.devices import sysfs, udev

log = logging.getLogger(__name__)

SYSFS_ROOT = sysfs.SYSFS_ROOT
MOUNTINFO = "/proc/self/mountinfo"
_NOT_LUNS = ("ram", "zram", "sr", "fd")


@dataclass(frozen=True)
class Path:
    """One path to a LUN: the SCSI disk under a multipath map, or the disk
    itself."""

    name: str
    state: str  # "active" | "failed"
    capacity: int
    lun: int
    devtype: str
    session: str | None  # sessionN of an iSCSI path


@dataclass(frozen=True)
class BlockDevice:
    guid: str
    name: str
    devnode: str
    capacity: int
    vendor: str
    product: str
    fwrev: str
    serial: str
    logical_block_size: int
    physical_block_size: int
    discard_max_bytes: int
    discard_zeroes_data: int
    devtype: str
    paths: tuple[Path, ...]
    partitioned: bool
    holders: tuple[str, ...]
    mounted: bool


def _guid(root: str, disk: udev.UdevDisk) -> str:
    """Multipath map name, else udev's ID_SERIAL / ID_WWN, else the SCSI
    wwid, else the kernel name (a loop device has no identity)."""
    props = disk.properties
    return (sysfs.multipath_map_name(root, disk.name) or props.get("ID_SERIAL")
            or props.get("ID_WWN") or sysfs.wwid(root, disk.name) or disk.name)


def _serial(root: str, disk: udev.UdevDisk, first_path: str,
            path_props: Mapping[str, str]) -> str:
    """udev's serial of the disk, else of its first path (a multipath map
    has none of its own), else what sysfs has (virtio disks)."""
    for props in (disk.properties, path_props):
        serial = (props.get("ID_SCSI_SERIAL") or props.get("ID_SERIAL_SHORT")
                  or props.get("ID_SERIAL"))
        if serial:
            return serial
    return (sysfs.read(root, first_path, "device/serial")
            or sysfs.read(root, first_path, "serial") or "")


def _path(root: str, name: str, states: Mapping[str, str]) -> Path:
    return Path(name=name, state=states.get(name) or sysfs.path_state(root, name),
                capacity=sysfs.size(root, name), lun=sysfs.lun(root, name),
                devtype=sysfs.transport(root, name),
                session=sysfs.iscsi_session(root, name))


def _devtype(paths: Iterable[Path]) -> str:
    types = {p.devtype for p in paths}
    if len(types) == 1:
        return types.pop()
    return "MIXED" if {sysfs.DEV_ISCSI, sysfs.DEV_FCP} <= types else sysfs.DEV_UNKNOWN


def mounted_devices(mountinfo: str = MOUNTINFO) -> frozenset[str]:
    """major:minor of every device a file system is mounted from."""
    with open(mountinfo) as f:
        return frozenset(line.split()[2] for line in f if line.strip())


def read_device(disk: udev.UdevDisk, root: str = SYSFS_ROOT, *,
                mounted: frozenset[str] = frozenset(),
                others: Mapping[str, udev.UdevDisk] | None = None,
                path_states: Mapping[str, str] | None = None) -> BlockDevice:
    """The record of one disk; attributes the device lacks read as empty.
    ``mounted`` is :func:`mounted_devices`, read once per listing;
    ``others`` the listing's disks by name (for the udev data of paths);
    ``path_states`` device-mapper's path states where multipathd runs
    (:func:`multipath.path_states`), else the SCSI state counts."""
    is_map = sysfs.multipath_map_name(root, disk.name) is not None
    path_names = sysfs.slaves(root, disk.name) if is_map else [disk.name]
    paths = tuple(_path(root, p, path_states or {}) for p in path_names)
    first = path_names[0] if path_names else disk.name
    logical, physical = sysfs.block_sizes(root, first)
    return BlockDevice(
        guid=_guid(root, disk), name=disk.name, devnode=disk.devnode,
        capacity=sysfs.size(root, disk.name),
        vendor=sysfs.read(root, first, "device/vendor") or "",
        product=sysfs.read(root, first, "device/model") or "",
        fwrev=sysfs.read(root, first, "device/rev") or "",
        serial=_serial(root, disk, first,
                       (others or {}).get(first, disk).properties),
        logical_block_size=logical, physical_block_size=physical,
        discard_max_bytes=sysfs.read_int(root, disk.name,
                                         "queue/discard_max_bytes"),
        discard_zeroes_data=sysfs.read_int(root, disk.name,
                                           "queue/discard_zeroes_data"),
        devtype=_devtype(paths), paths=paths,
        partitioned=sysfs.partitioned(root, disk.name),
        holders=tuple(sysfs.holders(root, disk.name)),
        mounted=sysfs.read(root, disk.name, "dev") in mounted)


def _is_candidate(root: str, disk: udev.UdevDisk, *, include_loop: bool) -> bool:
    name = disk.name
    if name.startswith(_NOT_LUNS) or sysfs.size(root, name) == 0:
        return False
    if name.startswith("loop"):
        return include_loop
    if name.startswith("dm-"):
        return sysfs.multipath_map_name(root, name) is not None
    # a path of a multipath map is listed inside its map
    return not any(sysfs.multipath_map_name(root, h) for h in sysfs.holders(root, name))


def list_devices(*, include_loop: bool = False, root: str = SYSFS_ROOT,
                 source: Callable[[], list[udev.UdevDisk]] = udev.disks,
                 path_states: Mapping[str, str] | None = None,
                 ) -> list[BlockDevice]:
    """The LUN candidates of this host, sorted by GUID.

    ``include_loop`` lists attached loop devices too (tests stand them in
    for LUNs). ``source`` gives the disks (udev by default);
    ``path_states`` see :func:`read_device`. Raises
    BlockDeviceActionError when udev cannot be read. A device vanishing
    while it is read is left out, with a log line.
    """
    devices = []
    mounted = mounted_devices()
    disks = {d.name: d for d in source()}
    for disk in disks.values():
        try:
            if _is_candidate(root, disk, include_loop=include_loop):
                devices.append(read_device(disk, root, mounted=mounted,
                                           others=disks, path_states=path_states))
        except (OSError, ValueError) as e:
            log.warning("block device %s left out: %s", disk.name, e)
    return sorted(devices, key=lambda d: d.guid)
