"""Thin provisioning of VM disks on block volumes: which drives, and when.

A qcow2 volume on a block domain lives in an LV that starts small and
grows in chunks while the guest writes: the host extends the LV before
QEMU's highest write offset (its allocation) reaches the LV's end. This
module is the pure part: which drives are thin, the watermark arithmetic,
the request an extension needs, and one drive's state. The monitor that
talks to libvirt and the extender is :mod:`vdsm.virt.volmonitor`.

Watermark: with ``chunk`` bytes per extension and ``percent`` of it as the
free space to keep, ``limit = chunk * percent / 100``; libvirt's block
threshold is set at ``physical - limit`` and an extension asks for
``physical + chunk`` (never past the volume's largest useful size).

A drive under live storage migration mirrors into a replica
(``diskReplicate``); when the replica is a thin block volume it must grow
with the drive, or the mirror fails once QEMU writes past its LV. Such a
drive is watched even when its own volume is a file: its free space is
the smaller of the two LVs', and an extension grows the replica first,
then the drive's own LV (as the classic agent does).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from vdsm.virt.drives import is_volume

MIB = 1 << 20

# One drive's monitoring state.
UNSET = "unset"            # no block threshold registered yet
SET = "set"                # threshold registered at ``threshold``
EXCEEDED = "exceeded"      # allocation crossed it: an extension is due
EXTENDING = "extending"    # an extension is in flight (one per drive)


@dataclass(frozen=True)
class ExtendRequest:
    """Grow volume ``vol_uuid`` (of image/domain/pool) to ``size`` bytes."""

    sd_uuid: str
    sp_uuid: str
    img_uuid: str
    vol_uuid: str
    size: int


# callback(None) when the LV has its new size and is refreshed on this
# host; callback(error) when the extension failed.
ExtendCallback = Callable[[BaseException | None], None]


class Extender(Protocol):
    """Who grows block volumes (the storage service on a real host)."""

    def extend(self, request: ExtendRequest, callback: ExtendCallback) -> None:
        """Start the extension and return; ``callback`` runs exactly once,
        on any thread, when it ends. May raise for a request it refuses
        at once (then no callback comes)."""


@dataclass(frozen=True)
class Policy:
    """The watermark arithmetic, from ``[irs] volume_utilization_*``."""

    chunk: int            # bytes an extension adds
    percent: int          # of the chunk to keep free

    @classmethod
    def from_config(cls, config: Any) -> Policy:
        return cls(chunk=int(config.get("irs", "volume_utilization_chunk_mb")) * MIB,
                   percent=int(config.get("irs", "volume_utilization_percent")))

    @property
    def limit(self) -> int:
        """Free bytes below which the volume is extended."""
        return self.chunk * self.percent // 100

    def threshold(self, physical: int) -> int:
        """libvirt's block threshold for an LV of ``physical`` bytes
        (1 at least: 0 would clear it)."""
        return max(1, physical - self.limit)

    def needs_extension(self, allocation: int, physical: int) -> bool:
        return physical - allocation < self.limit

    def next_size(self, physical: int, capacity: int) -> int:
        """The size to ask for; ``physical`` itself when the volume
        already has room for its whole virtual ``capacity``."""
        return max(physical, min(physical + self.chunk, max_size(capacity)))


def max_size(capacity: int) -> int:
    """Largest useful LV for a qcow2 of ``capacity`` virtual bytes: the
    data plus qcow2's metadata (10%, as the classic agent estimates),
    rounded up to a MiB."""
    size = capacity + capacity // 10
    return (size + MIB - 1) // MIB * MIB


def is_thin(drive: dict[str, Any], path: str | None = None) -> bool:
    """A qcow2 drive on a block volume: a volume drive whose wire type is
    ``block`` or whose prepared path is a block device."""
    if drive.get("type") != "disk" or drive.get("format") != "cow" \
            or not is_volume(drive) or drive.get("readonly"):
        return False
    return drive.get("diskType") == "block" or is_block_device(path or "")


def is_block_device(path: str) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def read_size(path: str) -> int:
    """Bytes in an LV's device (or the file serving it). Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def parse_block_record(record: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``block.N.*`` of one bulk stats record, by disk target name."""
    disks: dict[str, dict[str, int]] = {}
    for i in range(int(record.get("block.count", 0))):
        name = record.get(f"block.{i}.name")
        if not name or name in disks:
            continue
        disks[name] = {key: int(record[f"block.{i}.{key}"])
                       for key in ("allocation", "capacity", "physical",
                                   "threshold")
                       if f"block.{i}.{key}" in record}
    return disks


REPLICA_KEY = "diskReplicate"   # the drive's live storage migration target


@dataclass(frozen=True)
class Replica:
    """The thin block volume a drive mirrors into."""

    sd_uuid: str
    sp_uuid: str
    img_uuid: str
    vol_uuid: str
    path: str

    def request(self, size: int) -> ExtendRequest:
        return ExtendRequest(self.sd_uuid, self.sp_uuid, self.img_uuid,
                             self.vol_uuid, size)


def thin_replica(drive: dict[str, Any]) -> Replica | None:
    """The drive's replica when it is a qcow2 block volume (one that must
    be extended while mirrored); None otherwise."""
    rep = drive.get(REPLICA_KEY)
    if not isinstance(rep, dict) or rep.get("format") != "cow" \
            or not is_volume(rep) or not rep.get("path"):
        return None
    if rep.get("diskType") != "block" and not is_block_device(rep["path"]):
        return None
    return Replica(rep["domainID"], rep.get("poolID", ""), rep["imageID"],
                   rep["volumeID"], rep["path"])


def is_watched(drive: dict[str, Any]) -> bool:
    """A drive the volume monitor keeps ahead of QEMU: thin itself or
    mirroring into a thin replica."""
    return is_thin(drive, drive.get("path")) or thin_replica(drive) is not None


@dataclass
class ThinDrive:
    """What the monitor knows of one thin drive. Not thread-safe: the
    monitor guards it with its lock."""

    name: str                 # target dev, e.g. vdb
    path: str
    sd_uuid: str
    sp_uuid: str
    img_uuid: str
    vol_uuid: str
    state: str = UNSET
    threshold: int = 0
    physical: int = 0
    allocation: int = 0
    capacity: int = 0
    extending_to: int = 0
    extensions: int = 0
    failures: int = 0
    last_error: str = ""
    chunked: bool = True               # its own volume is a thin LV
    replica: Replica | None = None     # a thin replica it mirrors into
    replica_physical: int = 0

    @classmethod
    def from_device(cls, dev: dict[str, Any]) -> ThinDrive:
        return cls(name=dev["name"], path=dev.get("path", ""),
                   sd_uuid=dev["domainID"], sp_uuid=dev["poolID"],
                   img_uuid=dev["imageID"], vol_uuid=dev["volumeID"],
                   chunked=is_thin(dev, dev.get("path")),
                   replica=thin_replica(dev))

    @property
    def identity(self) -> tuple[str, str, Replica | None]:
        """What, when it changes, makes the drive a new one to watch."""
        return (self.vol_uuid, self.path, self.replica)

    @property
    def room(self) -> int:
        """Bytes of LV QEMU may fill: the smaller LV of drive and replica."""
        sizes = ([self.physical] if self.chunked else []) + \
            ([self.replica_physical] if self.replica is not None else [])
        return min(sizes) if sizes else self.physical

    def request(self, size: int) -> ExtendRequest:
        return ExtendRequest(self.sd_uuid, self.sp_uuid, self.img_uuid,
                             self.vol_uuid, size)

    def requests(self, size: int) -> list[ExtendRequest]:
        """The extensions growing every LV below ``size``: the replica's
        first, then the drive's own."""
        wanted = []
        if self.replica is not None and self.replica_physical < size:
            wanted.append(self.replica.request(size))
        if self.chunked and self.physical < size:
            wanted.append(self.request(size))
        return wanted

    def stats(self) -> dict[str, str]:
        """Classic disk stats keys of a block volume: apparentsize and
        truesize are the LV's size."""
        return {"apparentsize": str(self.physical), "truesize": str(self.physical)}
