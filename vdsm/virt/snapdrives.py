"""Which VM drive each classic ``snapDrives`` entry names, and the drive
records after the snapshot. Pure: no libvirt, no storage.

An entry is ``{domainID, imageID, volumeID, baseVolumeID[, name]}``:
``volumeID`` is the new leaf the SPM created as a child of
``baseVolumeID``, which must be the drive's current volume. A malformed
list or entry is an InvalidParameter; an entry naming no drive of the VM
(or not its current volume) is SnapshotFailed, as the classic agent
answers; an entry whose new volume the drive already runs on is skipped
(a retried snapshot).

The drive model after a snapshot (what merge reads): ``volumeID`` and
``path`` name the active layer; ``volumeChain`` lists every layer base
first, each ``{domainID, imageID, volumeID, path}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vdsm.common.errors import InvalidParameter
from vdsm.virt import drives
from vdsm.virt.errors import SnapshotFailed

_REQUIRED = ("domainID", "imageID", "volumeID", "baseVolumeID")


@dataclass
class Target:
    """One drive taking a new layer; ``path`` set once it is prepared."""

    drive: dict[str, Any]
    new_volume: str
    path: str = ""

    def new_drive(self) -> dict[str, Any]:
        """The volume struct of the new leaf, for the drive resolver."""
        return dict(self.drive, volumeID=self.new_volume)


def plan(devices: list[dict[str, Any]], snap_drives: Any) -> list[Target]:
    """The drive of each entry; raises InvalidParameter for a malformed
    entry or a drive named twice, SnapshotFailed for a drive the VM lacks
    or a base that is not the drive's current volume."""
    if not isinstance(snap_drives, list) or not snap_drives:
        raise InvalidParameter("Invalid parameter: snapDrives must be a "
                               "non-empty list of drive structs")
    targets: list[Target] = []
    for entry in snap_drives:
        if not isinstance(entry, dict):
            raise InvalidParameter("Invalid parameter: each snapDrives entry "
                                   "must be a struct")
        missing = [k for k in _REQUIRED if not entry.get(k)]
        if missing:
            raise InvalidParameter(f"Invalid parameter: snapDrives entry "
                                   f"lacks {', '.join(missing)}")
        drive = _find(devices, entry)
        if any(t.drive is drive for t in targets):
            raise InvalidParameter(f"Invalid parameter: drive {drive['name']} "
                                   "is named twice in snapDrives")
        if entry["volumeID"] == drive["volumeID"]:
            continue        # already taken (a retry): nothing to do
        if drive["volumeID"] != entry["baseVolumeID"]:
            raise SnapshotFailed(
                f"Snapshot failed: drive {drive['name']} runs on volume "
                f"{drive['volumeID']}, not on baseVolumeID "
                f"{entry['baseVolumeID']}")
        targets.append(Target(drive, entry["volumeID"]))
    return targets


def _find(devices: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    dev = drives.find_disk(devices, domain=entry["domainID"],
                           image=entry["imageID"], name=entry.get("name"))
    if dev is not None:
        return dev
    raise SnapshotFailed(f"Snapshot failed: the VM has no drive on image "
                           f"{entry['imageID']} of domain {entry['domainID']}"
                           + (f" named {entry['name']}" if entry.get("name")
                              else ""))


def chain(drive: dict[str, Any]) -> list[dict[str, Any]]:
    """The drive's layers base first (a drive never snapshotted: one)."""
    if drive.get("volumeChain"):
        return [dict(v) for v in drive["volumeChain"]]
    return [_layer(drive, drive["volumeID"], drive.get("path", ""))]


def advance(target: Target) -> None:
    """Make the new leaf the drive's active layer (after libvirt did)."""
    drive = target.drive
    layers = chain(drive)
    layers.append(_layer(drive, target.new_volume, target.path))
    drive["volumeChain"] = layers
    drive["volumeID"] = target.new_volume
    drive["path"] = target.path
    drive["format"] = "cow"


def _layer(drive: dict[str, Any], volume: str, path: str) -> dict[str, Any]:
    return {"domainID": drive["domainID"], "imageID": drive["imageID"],
            "volumeID": volume, "path": path}


def stats_ids(devices: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per disk name, the volume ids the disk stats carry (classic
    ``imageID``; ``domainID`` and ``volumeID`` of the active layer)."""
    return {d["name"]: {"domainID": d["domainID"], "imageID": d["imageID"],
                        "volumeID": d["volumeID"]}
            for d in devices
            if d["type"] == "disk" and d.get("name") and drives.is_volume(d)}
