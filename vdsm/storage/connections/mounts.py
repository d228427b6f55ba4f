"""Where storage is mounted, and what is mounted: names and mountinfo.

A remote path becomes a directory name under the mount root with the
classic escaping ("_" doubled, then "/" to "_"): ``server:/export/data``
is mounted on ``<mount root>/server:_export_data``. Reading
``/proc/self/mountinfo`` never touches the mounted file systems, so it is
safe even when one of them hangs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vdsm.storage.errors import StorageDomainIllegalRemotePath

MOUNTINFO = "/proc/self/mountinfo"


def transform_path(remote_path: str) -> str:
    """The mount directory name for a remote path (classic escaping).

    Raises StorageDomainIllegalRemotePath for a path whose name would be
    the mount root itself or its parent ("", ".", "..").
    """
    name = remote_path.replace("_", "__").replace("/", "_")
    if name in ("", ".", ".."):
        raise StorageDomainIllegalRemotePath(
            f"Remote path is illegal: {remote_path!r}")
    return name


def normalize_remote(remote_path: str) -> str:
    """``server:/a//b/`` -> ``server:/a/b``; a local path is normpath'ed."""
    if ":" in remote_path and not remote_path.startswith("/"):
        host, _, path = remote_path.partition(":")
        return f"{host}:{os.path.normpath(path) if path else path}"
    return os.path.normpath(remote_path)


@dataclass(frozen=True)
class MountRecord:
    mountpoint: str
    fstype: str
    source: str
    options: str
    root: str


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountRecord]:
    """Records of a mountinfo text (see proc(5)); malformed lines skipped."""
    records = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        tail = right.split()
        if not sep or len(fields) < 6 or len(tail) < 3:
            continue
        records.append(MountRecord(
            mountpoint=_unescape(fields[4]), fstype=tail[0],
            source=_unescape(tail[1]), options=tail[2],
            root=_unescape(fields[3])))
    return records


def mount_records(path: str = MOUNTINFO) -> list[MountRecord]:
    with open(path) as f:
        return parse_mountinfo(f.read())


def find_mount(mountpoint: str, path: str = MOUNTINFO) -> MountRecord | None:
    """The (last, topmost) record mounted on ``mountpoint``, if any."""
    real = os.path.normpath(mountpoint)
    found = None
    for record in mount_records(path):
        if record.mountpoint == real:
            found = record
    return found
