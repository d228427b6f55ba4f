"""SDM.amend_volume: change qcow2 attributes in place (today: compat)."""

from __future__ import annotations

import logging
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage.errors import (
    IncorrectFormat,
    InvalidParameterException,
    VolumeCreationError,
)
from vdsm.storage.sdm import volume_state
from vdsm.storage.sdm.endpoints import VolumeRef
from vdsm.storage.sdm.guarded import locked
from vdsm.storage.sdm.service_deps import SdmDeps

log = logging.getLogger(__name__)

COMPATS = ("0.10", "1.1")


def parse(qcow2_attr: Any) -> str:
    """Qcow2Attributes -> the compat level; InvalidParameterException."""
    compat = qcow2_attr.get("compat") if isinstance(qcow2_attr, dict) else None
    if compat not in COMPATS:
        raise InvalidParameterException(
            f"Invalid parameter: qcow2 compat {compat!r} (one of {', '.join(COMPATS)})")
    return str(compat)


def run(deps: SdmDeps, ref: VolumeRef, compat: str) -> None:
    with locked(deps.resources, deps.leases, deps.cache, exclusive=[ref]):
        vol = deps.cache.produce(ref.sd_uuid).volume(ref.img_uuid, ref.vol_uuid)
        md = volume_state.checked_metadata(vol, ref)
        if md.format != sc.VOL_FORMATS[sc.COW_FORMAT]:
            raise IncorrectFormat(f"Volume {ref.vol_uuid} is {md.format}, not COW")
        vol.write_metadata(md.updated(legality=sc.ILLEGAL_VOL))
        vol.prepare()
        try:
            qemuimg.amend(vol.path, compat=compat)
        except qemuimg.QemuImgError as e:
            raise VolumeCreationError(f"Cannot amend {ref.vol_uuid}: {e.message}") \
                from None
        finally:
            vol.teardown()
        vol.write_metadata(md.updated(
            legality=md.legality,
            generation=volume_state.next_generation(md.generation)))
    log.info("amended %s to qcow2 compat %s", ref, compat)
