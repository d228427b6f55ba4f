"""What a new block domain's VG gets, as data (the creation itself is not here).

The classic order, kept because readers depend on it: the VG is created
tagged ``RHAT_storage_domain_UNREADY`` and must hold no LV; ``metadata``
is created first, on the VG's first PV, so its first extent is extent 0
of PV0 (the ``PVn`` mapping keys count from there); then ids, inbox,
outbox, leases, xleases (format 4 and later) and master. The metadata
area (17 MiB) and both mailboxes are zeroed before use. The domain
metadata is then written as ``MDT_`` tags, and only last is the
``_UNREADY`` tag replaced by ``RHAT_storage_domain``: a VG without that
tag is a domain whose creation did not finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vdsm.storage import constants as sc
from vdsm.storage.domains import domain
from vdsm.storage.domains.block import tags, volume_md
from vdsm.storage.domains.metadata import Metadata
from vdsm.storage.errors import MetaDataValidationError
from vdsm.storage.lvm_report import PV

MD_VGUUID = "VGUUID"
MD_LOGBLKSIZE = "LOGBLKSIZE"
MD_PHYBLKSIZE = "PHYBLKSIZE"
PV_KEY_PREFIX = "PV"

CREATE_ORDER = (tags.METADATA, tags.IDS, tags.INBOX, tags.OUTBOX, tags.LEASES,
                tags.XLEASES, tags.MASTER)
ZERO_SIZES = {tags.METADATA: volume_md.RESERVED_SIZE, tags.INBOX: sc.MAILBOX_SIZE,
              tags.OUTBOX: sc.MAILBOX_SIZE}
# Tags swapped once the domain is complete: (delete, add).
READY_TAG_CHANGE = ([tags.UNREADY_DOMAIN_TAG], [tags.DOMAIN_TAG])


@dataclass(frozen=True)
class SpecialLV:
    name: str
    size: int                 # bytes
    zero: int = 0             # bytes to zero from its start before use
    on_first_pv: bool = False


def special_lvs(version: int, alignment: int = sc.ALIGNMENT) -> list[SpecialLV]:
    """The special LVs of a new domain, in creation order."""
    wanted = tags.special_lvs(version)
    sizes = tags.special_sizes_mib(alignment)
    return [SpecialLV(name, sizes[name] * sc.MiB, ZERO_SIZES.get(name, 0),
                      name == tags.METADATA)
            for name in CREATE_ORDER if name in wanted]


def extents_needed(lvs: Sequence[SpecialLV], extent_size: int) -> int:
    """Extents the special LVs take (each rounded up to whole extents),
    to refuse a VG too small before creating anything."""
    return sum(-(-lv.size // extent_size) for lv in lvs)


def encode_pv_info(guid: str, uuid: str, pe_count: int, map_offset: int) -> str:
    """A ``PVn`` value; ``pestart`` is always 0, as the classic agent wrote."""
    return f"pv:{guid},uuid:{uuid},pestart:0,pecount:{pe_count},mapoffset:{map_offset}"


def decode_pv_info(value: str) -> dict[str, str]:
    """Fields of a ``PVn`` value (``pv`` is returned as ``guid``).

    Raises MetaDataValidationError for a value that is not ``key:value``
    pairs with the five classic keys.
    """
    try:
        info = dict(item.split(":", 1) for item in value.split(","))
    except ValueError:
        raise MetaDataValidationError(f"Invalid PV mapping {value[:100]!r}") from None
    if set(info) != {"pv", "uuid", "pestart", "pecount", "mapoffset"}:
        raise MetaDataValidationError(f"Invalid PV mapping {value[:100]!r}")
    info["guid"] = info.pop("pv")
    return info


def pv_mapping(pvs: Sequence[PV], first_pv: str) -> Metadata:
    """``PV0``, ``PV1``... of a new domain: the metadata LV's PV first, each
    PV's ``mapoffset`` the sum of the extents of those before it.

    Raises MetaDataValidationError if ``first_pv`` is not one of ``pvs``.
    """
    ordered = [pv for pv in pvs if pv.name == first_pv]
    if not ordered:
        raise MetaDataValidationError(f"Metadata PV {first_pv} is not in the VG")
    ordered += [pv for pv in pvs if pv.name != first_pv]
    mapping, offset = {}, 0
    for i, pv in enumerate(ordered):
        guid = pv.name.rsplit("/", 1)[-1]
        mapping[f"{PV_KEY_PREFIX}{i}"] = encode_pv_info(guid, pv.uuid, pv.pe_count,
                                                        offset)
        offset += pv.pe_count
    return mapping


def initial_metadata(*, sd_uuid: str, name: str, dom_type: int, dom_class: int,
                     version: int, vg_uuid: str, mapping: Metadata,
                     block_size: int = sc.BLOCK_SIZE,
                     alignment: int = sc.ALIGNMENT) -> Metadata:
    """The domain metadata written as ``MDT_`` tags at creation.

    Format 5 keeps BLOCK_SIZE and ALIGNMENT; older formats have
    LOGBLKSIZE and PHYBLKSIZE instead. Raises what new_metadata raises.
    """
    md = domain.new_metadata(sd_uuid=sd_uuid, name=name, dom_type=dom_type,
                             dom_class=dom_class, version=version,
                             extra={MD_VGUUID: vg_uuid, **mapping})
    if version >= 5:
        md[sc.MD_BLOCK_SIZE] = str(block_size)
        md[sc.MD_ALIGNMENT] = str(alignment)
    else:
        md[MD_LOGBLKSIZE] = md[MD_PHYBLKSIZE] = str(block_size)
    return md
