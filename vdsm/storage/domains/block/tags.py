"""LVM tags of block domains, as the classic agent wrote them.

The domain metadata lives in the VG's tags: each line of the classic
domain metadata text (:func:`vdsm.storage.domains.metadata.dump_domain`,
``KEY=value`` sorted by key, then ``_SHA_CKSUM=<sha1>``) becomes one tag
``MDT_<line>`` (so the checksum is ``MDT__SHA_CKSUM=...``). LVM tags may
hold only ``[A-Za-z0-9_+.-/=!:#&]``; the classic agent wrote any other
character, and ``&`` itself, as ``&<decimal code>&`` (a space is ``&32&``).
``!`` is escaped here too (``&33&``): the tag alphabet of
:mod:`vdsm.storage.lvm_cmd` leaves it out; a classic ``!`` still decodes.
Like the classic agent, a value is never split across tags: a line whose
tag would pass LVM's 1024 character limit is refused here, before LVM
refuses it.

Volumes are LVs tagged ``IU_<image>``, ``PU_<parent>`` and ``MD_<slot>``
(their metadata slot in the ``metadata`` LV, see :mod:`.volume_md`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vdsm.storage import constants as sc
from vdsm.storage.domains import metadata
from vdsm.storage.errors import MetadataOverflowError, MetaDataValidationError

DOMAIN_TAG = "RHAT_storage_domain"
UNREADY_DOMAIN_TAG = DOMAIN_TAG + "_UNREADY"
MDT_PREFIX = "MDT_"
MAX_TAG_LENGTH = 1024

IMAGE_PREFIX = "IU_"
PARENT_PREFIX = "PU_"
SLOT_PREFIX = "MD_"
UNINIT_TAG = "OVIRT_VOL_INITIALIZING"
BLANK_UUID = "00000000-0000-0000-0000-000000000000"

# The special LVs (classic names).
METADATA = sc.METADATA
IDS = sc.IDS
LEASES = sc.LEASES
INBOX = sc.INBOX
OUTBOX = sc.OUTBOX
XLEASES = "xleases"
MASTER = "master"
SPECIAL_LVS_V0 = (METADATA, LEASES, IDS, INBOX, OUTBOX, MASTER)
SPECIAL_LVS_V4 = (METADATA, LEASES, IDS, INBOX, OUTBOX, XLEASES, MASTER)

# Sizes in MiB; leases and xleases are counted in slots of the alignment.
FIXED_SIZES_MIB = {METADATA: 128, IDS: 8, INBOX: 16, OUTBOX: 16, MASTER: 1024}
LEASES_SLOTS = 2048
XLEASES_SLOTS = 1024

_INVALID = re.compile(r"[^a-zA-Z0-9_+.\-/=:#]")
_ESCAPE = re.compile(r"&(\d+)&")


def special_lvs(version: int) -> tuple[str, ...]:
    """The special LVs of a domain of this format version (xleases from 4)."""
    return SPECIAL_LVS_V4 if version >= 4 else SPECIAL_LVS_V0


def special_sizes_mib(alignment: int) -> dict[str, int]:
    """Size in MiB of every special LV for a lease alignment in bytes."""
    sizes = dict(FIXED_SIZES_MIB)
    sizes[LEASES] = LEASES_SLOTS * alignment // sc.MiB
    sizes[XLEASES] = XLEASES_SLOTS * alignment // sc.MiB
    return sizes


def encode(text: str) -> str:
    """Escape characters an LVM tag cannot hold as ``&<code>&``."""
    return _INVALID.sub(lambda m: f"&{ord(m.group())}&", text)


def decode(tag: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1))), tag)


def domain_tags(md: Mapping[str, str]) -> list[str]:
    """The ``MDT_`` tags of domain metadata, checksum included.

    Raises MetaDataKeyError for a bad key or value (as dump_domain) and
    MetadataOverflowError for a line too long for one tag.
    """
    text = metadata.dump_domain(dict(md)).decode("utf-8")
    tags = [MDT_PREFIX + encode(line) for line in text.splitlines()]
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise MetadataOverflowError(
                f"VG tag of {len(tag)} characters, LVM allows {MAX_TAG_LENGTH}: "
                f"{tag[:60]}...")
    return tags


def parse_domain_tags(tags: Iterable[str], *,
                      source: str = "VG tags") -> dict[str, str]:
    """Domain metadata from a VG's tags (others are ignored), checksum checked.

    Raises MetaDataValidationError on a malformed line or a checksum that
    does not match.
    """
    lines = sorted(decode(t[len(MDT_PREFIX):])
                   for t in tags if t.startswith(MDT_PREFIX))
    for line in lines:
        if "\n" in line or "\r" in line:
            raise MetaDataValidationError(f"{source}: a metadata tag holds a newline")
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    return metadata.parse_domain(data, source=source)


def tag_changes(current: Iterable[str],
                md: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``(delete, add)`` turning a VG's ``MDT_`` tags into those of ``md``.

    Only the lines that differ change, as the classic agent wrote them;
    tags without the prefix are left alone.
    """
    old = {t for t in current if t.startswith(MDT_PREFIX)}
    new = domain_tags(md)
    return sorted(old - set(new)), [t for t in new if t not in old]


@dataclass(frozen=True)
class VolumeTags:
    image: str | None
    parent: str | None
    slot: int | None
    initializing: bool = False


def volume_tags(image: str, parent: str, slot: int, *,
                initializing: bool = False) -> list[str]:
    """The tags of a volume's LV; a base volume's parent is BLANK_UUID."""
    tags = [IMAGE_PREFIX + image, PARENT_PREFIX + parent, f"{SLOT_PREFIX}{slot}"]
    if initializing:
        tags.append(UNINIT_TAG)
    return tags


def parse_volume_tags(tags: Iterable[str]) -> VolumeTags:
    """Image, parent and slot of an LV; missing ones are None.

    Raises MetaDataValidationError for an ``MD_`` tag that is not a
    slot number.
    """
    image = parent = None
    slot = None
    initializing = False
    for tag in tags:
        if tag.startswith(IMAGE_PREFIX):
            image = tag[len(IMAGE_PREFIX):]
        elif tag.startswith(PARENT_PREFIX):
            parent = tag[len(PARENT_PREFIX):]
        elif tag.startswith(SLOT_PREFIX):
            value = tag[len(SLOT_PREFIX):]
            if not value.isdigit():
                raise MetaDataValidationError(f"Invalid metadata slot tag {tag!r}")
            slot = int(value)
        elif tag == UNINIT_TAG:
            initializing = True
    return VolumeTags(image, parent, slot, initializing)
