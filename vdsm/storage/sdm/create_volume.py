"""SDM.create_volume: a new volume (RAW, COW, or a COW snapshot of a parent).

The same steps as the SPM's createVolume (volumes.VolumeOperations), run
as a host job: the volume is ILLEGAL until complete, and a failure runs
the undo steps at once (remove the half-made volume).
"""

from __future__ import annotations

from typing import Any, Callable

from vdsm.storage import constants as sc
from vdsm.storage.errors import InvalidParameterException
from vdsm.storage.sdm.guarded import JobContext
from vdsm.storage.volumes import VolumeOperations

FORMATS = {"COW": sc.COW_FORMAT, "RAW": sc.RAW_FORMAT}


def parse(vol_info: Any) -> dict[str, Any]:
    """CreateVolumeInfo -> VolumeOperations.create's keywords; raises
    InvalidParameterException (before the job is registered)."""
    if not isinstance(vol_info, dict):
        raise InvalidParameterException("Invalid parameter: vol_info must be a struct")
    try:
        vol_format = FORMATS[vol_info.get("vol_format", "")]
        size = int(vol_info["virtual_size"])
        names = {k: str(vol_info[k]) for k in ("sd_id", "img_id", "vol_id")}
    except (KeyError, ValueError, TypeError) as e:
        raise InvalidParameterException(f"Invalid parameter: vol_info {e}") from None
    parent = vol_info.get("parent") or {}
    VolumeOperations.check_create(size=size, vol_format=vol_format,
                                  preallocate=sc.SPARSE_VOL,
                                  initial_size=int(vol_info.get("initial_size") or 0))
    return {
        "sd_uuid": names["sd_id"], "img_uuid": names["img_id"],
        "vol_uuid": names["vol_id"], "size": size, "vol_format": vol_format,
        "preallocate": sc.SPARSE_VOL,
        "disk_type": str(vol_info.get("disk_type") or sc.DATA_DISKTYPE),
        "description": str(vol_info.get("description", "")),
        "src_img_uuid": str(parent.get("img_id") or sc.BLANK_UUID),
        "src_vol_uuid": str(parent.get("vol_id") or sc.BLANK_UUID),
        "initial_size": int(vol_info.get("initial_size") or 0),
    }


def run(ops: VolumeOperations, ctx: JobContext, args: dict[str, Any],
        check_host_id: Callable[[str], None]) -> None:
    """Create the volume; on failure undo what was done, then raise."""
    check_host_id(args["sd_uuid"])
    try:
        ops.create(ctx, **args)   # type: ignore[arg-type]
    except BaseException:
        ctx.rollback()
        raise
