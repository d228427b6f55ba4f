"""SDM.update_volume: legality, description, generation or type SHARED."""

from __future__ import annotations

import logging
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.domains import image
from vdsm.storage.errors import InvalidParameterException, UnexpectedVolumeState
from vdsm.storage.sdm import volume_state
from vdsm.storage.sdm.endpoints import VolumeRef
from vdsm.storage.sdm.guarded import locked
from vdsm.storage.sdm.service_deps import SdmDeps

log = logging.getLogger(__name__)

KNOWN = {"legality", "description", "generation", "type"}


def parse(vol_attr: Any) -> dict[str, Any]:
    """VolumeAttributes -> the changes; InvalidParameterException."""
    if not isinstance(vol_attr, dict) or set(vol_attr) - KNOWN:
        raise InvalidParameterException(f"Invalid parameter: vol_attr {vol_attr!r}")
    attrs = {k: v for k, v in vol_attr.items() if v is not None}
    if attrs.get("legality", sc.LEGAL_VOL) not in (sc.LEGAL_VOL, sc.ILLEGAL_VOL):
        raise InvalidParameterException(f"Invalid parameter: legality {attrs}")
    if attrs.get("type", image.SHARED) != image.SHARED:
        raise InvalidParameterException("Invalid parameter: type can only be SHARED")
    gen = attrs.get("generation", 0)
    if not isinstance(gen, int) or not 0 <= gen <= volume_state.MAX_GENERATION:
        raise InvalidParameterException(f"Invalid parameter: generation {gen!r}")
    return attrs


def run(deps: SdmDeps, ref: VolumeRef, attrs: dict[str, Any]) -> None:
    with locked(deps.resources, deps.leases, deps.cache, exclusive=[ref]):
        dom = deps.cache.produce(ref.sd_uuid)
        vol = dom.volume(ref.img_uuid, ref.vol_uuid)
        md = volume_state.checked_metadata(vol, ref)
        changes: dict[str, Any] = {
            "generation": attrs.get("generation",
                                    volume_state.next_generation(md.generation))}
        if "legality" in attrs:
            changes["legality"] = attrs["legality"]
        if "description" in attrs:
            changes["description"] = str(attrs["description"])[:sc.DESCRIPTION_SIZE]
        if "type" in attrs:
            if md.has_parent or md.voltype != image.LEAF:
                raise UnexpectedVolumeState(
                    f"Only a leaf without a parent can become SHARED: {ref.vol_uuid}")
            changes["voltype"] = image.SHARED
        vol.write_metadata(md.updated(**changes))
    log.info("updated %s: %s", ref, sorted(attrs))
