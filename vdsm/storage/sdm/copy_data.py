"""SDM.copy_data: the data of one volume (with its chain) into another.

The destination keeps its own format, size and parent (qemu-img convert
-n into the existing volume); it is ILLEGAL while written and LEGAL with
the next generation once the copy completed. The copy runs as a watched
``qemu-img convert -p`` (:mod:`vdsm.storage.qemuimg_copy`, limited to
``[irs] copy_bandwidth_mib`` like the other copies of image data), its
percentage passed to the host job as it moves, so Host.getJobs shows it.
A destination too small for the source, or any qemu-img failure, fails
the job with CopyImageError and leaves the destination ILLEGAL.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg, qemuimg_copy
from vdsm.storage.domains.file.volume import qemu_format
from vdsm.storage.errors import CopyImageError
from vdsm.storage.sdm import volume_state
from vdsm.storage.sdm.endpoints import VolumeRef
from vdsm.storage.sdm.guarded import locked
from vdsm.storage.sdm.service_deps import SdmDeps

log = logging.getLogger(__name__)


def run(deps: SdmDeps, source: VolumeRef, destination: VolumeRef, *,
        progress: Callable[[float], None] = lambda percent: None) -> None:
    """Raises CopyImageError and what the guard and the metadata checks
    raise (GenerationMismatch, DomainAlreadyLocked...)."""
    with locked(deps.resources, deps.leases, deps.cache, exclusive=[destination],
                shared=[source]):
        src = deps.cache.produce(source.sd_uuid).volume(source.img_uuid,
                                                        source.vol_uuid)
        dst = deps.cache.produce(destination.sd_uuid).volume(destination.img_uuid,
                                                             destination.vol_uuid)
        src_md = volume_state.checked_metadata(src, source)
        dst_md = volume_state.checked_metadata(dst, destination)
        dst.write_metadata(dst_md.updated(legality=sc.ILLEGAL_VOL))
        src.prepare()
        try:
            dst.prepare()
            try:
                argv = qemuimg_copy.convert_argv(
                    src.path, dst.path, src_format=qemu_format(src_md.format),
                    dst_format=qemu_format(dst_md.format),
                    backing=dst_md.parent if dst_md.has_parent else None,
                    rate=qemuimg_copy.rate_limit(deps.copy_bandwidth_mib))
                qemuimg_copy.run_convert(argv, cwd=os.path.dirname(dst.path),
                                         progress=progress)
            finally:
                dst.teardown()
        except qemuimg.QemuImgError as e:
            raise CopyImageError(f"low level Image copy failed: {e.message}") from None
        finally:
            src.teardown()
        dst.write_metadata(dst_md.updated(
            legality=sc.LEGAL_VOL,
            generation=volume_state.next_generation(dst_md.generation)))
    log.info("copied %s to %s", source, destination)
