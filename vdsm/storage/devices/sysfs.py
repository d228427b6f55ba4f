"""What the kernel says about one block device, read from sysfs.

Everything here takes the sysfs root as an argument (``/sys`` on a host)
so the same code reads a recorded tree in the tests. Attributes a device
type lacks (a loop device has no SCSI vendor, a virtio disk no path
state) read as None rather than failing: the listing shows what exists.
Not thread-unsafe: only reads files.
"""

from __future__ import annotations

import os
import re

SYSFS_ROOT = "/sys"
SECTOR = 512  # /sys/block/X/size counts 512-byte sectors whatever the LBS

DEV_ISCSI = "iSCSI"
DEV_FCP = "FCP"
DEV_UNKNOWN = "unknown"

_SESSION = re.compile(r"^session\d+$")
_HBTL = re.compile(r"^\d+:\d+:\d+:\d+$")
# NAA/EUI/T10 prefixes of /sys/block/X/device/wwid, and the leading digit
# multipath (scsi_id) gives each in the WWID it names its maps by.
_WWID_PREFIXES = {"naa.": "3", "eui.": "2", "t10.": "1"}


def block_path(root: str, name: str, *rel: str) -> str:
    return os.path.join(root, "block", name, *rel)


def read(root: str, name: str, rel: str) -> str | None:
    """The stripped text of /sys/block/NAME/REL, None when absent."""
    try:
        with open(block_path(root, name, rel)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def read_int(root: str, name: str, rel: str, default: int = 0) -> int:
    value = read(root, name, rel)
    return int(value) if value else default


def size(root: str, name: str) -> int:
    """The size in bytes."""
    return read_int(root, name, "size") * SECTOR


def block_sizes(root: str, name: str) -> tuple[int, int]:
    """(logical, physical) block size in bytes."""
    logical = read_int(root, name, "queue/logical_block_size", SECTOR)
    return logical, read_int(root, name, "queue/physical_block_size", logical)


def slaves(root: str, name: str) -> list[str]:
    """The devices under a device-mapper map (the paths of a multipath map)."""
    try:
        return sorted(os.listdir(block_path(root, name, "slaves")))
    except FileNotFoundError:
        return []


def holders(root: str, name: str) -> list[str]:
    """The devices built on this one (a multipath map, an md array)."""
    try:
        return sorted(os.listdir(block_path(root, name, "holders")))
    except FileNotFoundError:
        return []


def partitioned(root: str, name: str) -> bool:
    try:
        entries = os.listdir(block_path(root, name))
    except FileNotFoundError:
        return False
    return any(e.startswith(name)
               and os.path.exists(block_path(root, name, e, "partition"))
               for e in entries)


def multipath_map_name(root: str, name: str) -> str | None:
    """The map's name (its WWID) when ``name`` is a multipath map."""
    uuid = read(root, name, "dm/uuid")
    if uuid is None or not uuid.startswith("mpath-"):
        return None
    return read(root, name, "dm/name")


def wwid(root: str, name: str) -> str | None:
    """The SCSI WWID of device/wwid in the form multipath names maps by
    (``naa.6001405...`` -> ``36001405...``)."""
    value = read(root, name, "device/wwid")
    if not value:
        return None
    for prefix, digit in _WWID_PREFIXES.items():
        if value.startswith(prefix):
            return digit + re.sub(r"\s+", "_", value[len(prefix):])
    return value


def path_state(root: str, name: str) -> str:
    """"active" for a SCSI device the kernel runs (or one without SCSI
    state, such as a loop device), else "failed" (offline, blocked,
    transport-offline)."""
    state = read(root, name, "device/state")
    return "active" if state in (None, "running") else "failed"


def _device_ancestry(root: str, name: str) -> list[str]:
    target = os.path.realpath(block_path(root, name, "device"))
    return target.split(os.sep) if os.path.exists(target) else []


def transport(root: str, name: str) -> str:
    """iSCSI when a SCSI device sits under an iSCSI session, FCP under an FC
    remote port, else unknown."""
    for part in _device_ancestry(root, name):
        if _SESSION.match(part):
            return DEV_ISCSI
        if part.startswith("rport-"):
            return DEV_FCP
    return DEV_UNKNOWN


def iscsi_session(root: str, name: str) -> str | None:
    """``sessionN`` of the iSCSI session carrying the device."""
    return next((p for p in _device_ancestry(root, name) if _SESSION.match(p)), None)


def lun(root: str, name: str) -> int:
    """The LUN of host:bus:target:lun; 0 for a device that is not SCSI."""
    ancestry = _device_ancestry(root, name)
    if ancestry and _HBTL.match(ancestry[-1]):
        return int(ancestry[-1].rsplit(":", 1)[1])
    return 0


def class_attr(root: str, cls: str, obj: str, attr: str) -> str | None:
    """/sys/class/CLS/OBJ/ATTR, None when absent."""
    try:
        with open(os.path.join(root, "class", cls, obj, attr)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None
