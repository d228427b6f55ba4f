"""Volume metadata slots in a block domain's ``metadata`` LV.

Each volume's metadata is one 512-byte block: the same ``KEY=value``
lines and ``EOF`` as a file volume's ``.meta``
(:func:`vdsm.storage.domains.metadata.dump_volume`), padded with NULs.
Its slot number is the volume LV's ``MD_<slot>`` tag. Format 4 packs the
blocks in 512-byte slots from offset 0 (slots 0-3 reserved: older formats
kept the domain metadata there); format 5 puts them in 8 KiB slots after
the first MiB (slot 0 reserved for the metadata LV itself), so the first
17 MiB of the LV are the metadata area. An all-NUL block is a free slot.
"""

from __future__ import annotations

from collections.abc import Iterable

from vdsm.storage import constants as sc
from vdsm.storage.domains import metadata
from vdsm.storage.errors import MetadataOverflowError, MetaDataValidationError

BLOCK_SIZE = sc.METADATA_SIZE          # bytes of metadata per volume
V4_BASE = 0
V4_SLOT_SIZE = 512
V4_FIRST_SLOT = 4
V5_BASE = sc.MiB
V5_SLOT_SIZE = 8 * sc.KiB
V5_FIRST_SLOT = 1
RESERVED_SIZE = 17 * sc.MiB            # metadata area at the start of the LV


def slot_size(version: int) -> int:
    return V5_SLOT_SIZE if version >= 5 else V4_SLOT_SIZE


def first_slot(version: int) -> int:
    """The lowest slot a volume may use in this format."""
    return V5_FIRST_SLOT if version >= 5 else V4_FIRST_SLOT


def max_slots(version: int) -> int:
    """How many slots the reserved metadata area holds."""
    if version >= 5:
        return (RESERVED_SIZE - V5_BASE) // V5_SLOT_SIZE
    return V5_BASE // V4_SLOT_SIZE


def slot_offset(slot: int, version: int) -> int:
    """Byte offset of a slot in the metadata LV; ValueError if out of range."""
    if not first_slot(version) <= slot < max_slots(version):
        raise ValueError(f"Metadata slot {slot} out of range for format {version}")
    if version >= 5:
        return V5_BASE + slot * V5_SLOT_SIZE
    return V4_BASE + slot * V4_SLOT_SIZE


def free_slot(occupied: Iterable[int], version: int) -> int:
    """The lowest free slot, from the ``MD_`` tags of the domain's LVs.

    Raises MetadataOverflowError when every slot is taken.
    """
    taken = set(occupied)
    slot = first_slot(version)
    while slot in taken:
        slot += 1
    if slot >= max_slots(version):
        raise MetadataOverflowError(f"No free metadata slot (format {version})")
    return slot


def encode(md: metadata.Metadata) -> bytes:
    """One 512-byte block; raises MetadataOverflowError if it does not fit."""
    return metadata.dump_volume(md).ljust(BLOCK_SIZE, b"\0")


def decode(block: bytes, *, source: str = "metadata slot") -> metadata.Metadata | None:
    """A volume's metadata from its block, None for a free (all-NUL) slot.

    Raises MetaDataValidationError for a block that is not 512 bytes or
    holds no ``EOF`` line.
    """
    if len(block) != BLOCK_SIZE:
        raise MetaDataValidationError(f"{source}: {len(block)} bytes, not {BLOCK_SIZE}")
    text = block.rstrip(b"\0")
    if not text:
        return None
    return metadata.parse_volume(text, source=source)
