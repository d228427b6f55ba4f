"""The volume addresses SDM verbs take (CopyDataDIVEndpoint and friends)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vdsm.storage.errors import InvalidParameterException

DIV = "div"


@dataclass(frozen=True)
class VolumeRef:
    """One volume of a domain, with the generation the caller expects
    (None: any)."""

    sd_uuid: str
    img_uuid: str
    vol_uuid: str
    generation: int | None = None


def _field(info: dict[str, Any], name: str) -> str:
    value = info.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidParameterException(f"Invalid parameter: {name} is required")
    return value


def volume_ref(info: Any) -> VolumeRef:
    """A CopyDataDIVEndpoint (sd_id, img_id, vol_id, generation?).
    Raises InvalidParameterException."""
    if not isinstance(info, dict):
        raise InvalidParameterException("Invalid parameter: a volume must be a struct")
    generation = info.get("generation")
    if generation is not None and (not isinstance(generation, int) or generation < 0):
        raise InvalidParameterException(f"Invalid parameter: generation {generation!r}")
    return VolumeRef(_field(info, "sd_id"), _field(info, "img_id"),
                     _field(info, "vol_id"), generation)


def copy_endpoint(info: Any) -> VolumeRef:
    """A CopyDataEndpoint: only ``endpoint_type`` "div" (a volume) is
    supported here. Raises InvalidParameterException."""
    if not isinstance(info, dict) or info.get("endpoint_type", DIV) != DIV:
        raise InvalidParameterException(
            f"Invalid parameter: unsupported endpoint {info!r} (only 'div')")
    return volume_ref(info)
