"""Volumes: the metadata model and the interface every backend implements.

A volume is one layer of an image: RAW or COW (qcow2) data, a metadata
record (``.meta`` on file domains, a slot on block domains) and a lease.
Its metadata says whether it is LEGAL; a volume is created ILLEGAL and
turned LEGAL only when complete, so a crash never leaves a half-written
volume that looks usable.
"""

from __future__ import annotations

import abc
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.domains import metadata as mdformat
from vdsm.storage.errors import (
    IncorrectFormat,
    IncorrectType,
    InvalidVolumeUpdate,
    VolumeMetadataReadError,
)

FORMATS = frozenset(sc.VOL_FORMATS.values())
TYPES = frozenset(sc.VOL_TYPES.values())
ROLES = frozenset(sc.VOL_ROLES.values())
LEGALITIES = frozenset({sc.LEGAL_VOL, sc.ILLEGAL_VOL, sc.FAKE_VOL})


def format_name(vol_format: int) -> str:
    try:
        return sc.VOL_FORMATS[vol_format]
    except KeyError:
        raise IncorrectFormat(f"Incorrect Volume format {vol_format}") from None


def type_name(vol_type: int) -> str:
    try:
        return sc.VOL_TYPES[vol_type]
    except KeyError:
        raise IncorrectType(f"Incorrect Volume Preallocate Type {vol_type}") from None


@dataclass(frozen=True)
class VolumeMetadata:
    domain: str
    image: str
    parent: str
    capacity: int
    format: str
    type: str
    voltype: str
    disktype: str
    description: str
    legality: str
    ctime: int
    generation: int = 0

    @classmethod
    def new(cls, *, domain: str, image: str, parent: str, capacity: int,
            vol_format: str, vol_type: str, disktype: str, description: str,
            voltype: str = sc.VOL_ROLES[sc.LEAF_VOL]) -> VolumeMetadata:
        """A volume being created: ILLEGAL until its data is complete."""
        return cls(domain=domain, image=image, parent=parent, capacity=capacity,
                   format=vol_format, type=vol_type, voltype=voltype,
                   disktype=disktype, description=description[:sc.DESCRIPTION_SIZE],
                   legality=sc.ILLEGAL_VOL, ctime=int(time.time()))

    def to_md(self) -> dict[str, str]:
        return {
            sc.VMD_CAPACITY: str(self.capacity), sc.VMD_CTIME: str(self.ctime),
            sc.VMD_DESCRIPTION: self.description, sc.VMD_DISKTYPE: self.disktype,
            sc.VMD_DOMAIN: self.domain, sc.VMD_FORMAT: self.format,
            sc.VMD_GENERATION: str(self.generation), sc.VMD_IMAGE: self.image,
            sc.VMD_LEGALITY: self.legality, sc.VMD_MTIME: "0",
            sc.VMD_PUUID: self.parent, sc.VMD_TYPE: self.type,
            sc.VMD_VOLTYPE: self.voltype,
        }

    def dump(self) -> bytes:
        return mdformat.dump_volume(self.to_md())

    @classmethod
    def parse(cls, data: bytes, *, source: str) -> VolumeMetadata:
        """Parse a metadata record; raises VolumeMetadataReadError."""
        try:
            md = mdformat.parse_volume(data, source=source)
            return cls(
                domain=md[sc.VMD_DOMAIN], image=md[sc.VMD_IMAGE],
                parent=md[sc.VMD_PUUID], capacity=int(md[sc.VMD_CAPACITY]),
                format=md[sc.VMD_FORMAT], type=md[sc.VMD_TYPE],
                voltype=md[sc.VMD_VOLTYPE], disktype=md.get(sc.VMD_DISKTYPE, ""),
                description=md.get(sc.VMD_DESCRIPTION, ""),
                legality=md[sc.VMD_LEGALITY], ctime=int(md.get(sc.VMD_CTIME, 0)),
                generation=int(md.get(sc.VMD_GENERATION, 0)))
        except KeyError as e:
            raise VolumeMetadataReadError(f"{source}: missing key {e}") from None
        except ValueError as e:
            raise VolumeMetadataReadError(f"{source}: {e}") from None

    def updated(self, **changes: Any) -> VolumeMetadata:
        """A copy with some fields changed (validated)."""
        bad = set(changes) - set(asdict(self))
        if bad:
            raise InvalidVolumeUpdate(f"Unknown volume fields {sorted(bad)}")
        new = replace(self, **changes)
        if new.legality not in LEGALITIES or new.voltype not in ROLES:
            raise InvalidVolumeUpdate(f"Invalid volume update {changes}")
        return new

    @property
    def is_legal(self) -> bool:
        return self.legality == sc.LEGAL_VOL

    @property
    def has_parent(self) -> bool:
        return self.parent != sc.BLANK_UUID


class Volume(abc.ABC):
    """One volume of a domain's image."""

    # whether create_data uses ``initial_size`` (an LV is sized up front; a
    # file grows by itself): callers skip a qemu-img measure when not
    needs_initial_size = False

    def __init__(self, sd_uuid: str, img_uuid: str, vol_uuid: str) -> None:
        self.sd_uuid = sd_uuid
        self.img_uuid = img_uuid
        self.vol_uuid = vol_uuid

    @property
    @abc.abstractmethod
    def path(self) -> str:
        """Where the volume's data is (what qemu opens)."""

    @property
    @abc.abstractmethod
    def lease(self) -> tuple[str, int]:
        """(path, offset) of the volume lease."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether any part (data or metadata) of the volume is there."""

    @abc.abstractmethod
    def metadata(self) -> VolumeMetadata:
        """Read the metadata (VolumeDoesNotExist, VolumeMetadataReadError)."""

    @abc.abstractmethod
    def write_metadata(self, md: VolumeMetadata) -> None:
        """Replace the metadata atomically."""

    def update(self, **changes: Any) -> VolumeMetadata:
        md = self.metadata().updated(**changes)
        self.write_metadata(md)
        return md

    @abc.abstractmethod
    def create_data(self, md: VolumeMetadata, *, parent: Volume | None,
                    preallocate: bool, initial_size: int | None = None,
                    check_parent: bool = True) -> None:
        """Create the data file/LV (RAW or qcow2 on top of ``parent``);
        ``initial_size`` sizes a COW volume's LV (a file grows by itself);
        ``check_parent`` False skips reading the parent first (the caller
        has just made it, so no VM holds it and it is whole)."""

    @abc.abstractmethod
    def create_lease(self) -> None:
        """Create and format the volume lease."""

    @abc.abstractmethod
    def remove(self) -> None:
        """Remove data, lease and metadata (metadata last); idempotent."""

    @abc.abstractmethod
    def size(self) -> dict[str, int]:
        """{"apparentsize", "truesize"} in bytes."""

    @abc.abstractmethod
    def extend(self, new_capacity: int, md: VolumeMetadata) -> None:
        """Grow the data to ``new_capacity`` bytes (metadata not changed)."""

    @abc.abstractmethod
    def prepare(self) -> None:
        """Make the volume and its parents usable on this host (activate a
        block volume's chain); each prepare needs one teardown. Nothing to
        do for file volumes."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Undo one prepare (the chain is deactivated at the last one)."""

    def info(self, *, children: list[str], pool: str = "") -> dict[str, Any]:
        """getVolumeInfo's ``info`` struct (sizes as strings, as classic)."""
        md = self.metadata()
        sizes = self.size()
        return {
            "uuid": self.vol_uuid, "domain": self.sd_uuid, "image": self.img_uuid,
            "pool": pool, "parent": md.parent, "children": children,
            "format": md.format, "type": md.type, "voltype": md.voltype,
            "disktype": md.disktype, "description": md.description,
            "legality": md.legality,
            "status": sc.VOL_STATUS_OK if md.is_legal else sc.VOL_STATUS_ILLEGAL,
            "capacity": str(md.capacity), "apparentsize": str(sizes["apparentsize"]),
            "truesize": str(sizes["truesize"]), "ctime": str(md.ctime),
            "mtime": "0", "generation": md.generation,
            "lease": {"path": self.lease[0], "offset": self.lease[1]},
        }
