"""Image-changing jobs of the SPM: delete, copy (collapse). Moving an
image between domains is vdsm/storage/image_copy.py.

Locks: the source image shared (exclusive when it is moved away), the
destination image exclusive, both domains shared. A destination is built
ILLEGAL and registered for removal first; it becomes LEGAL only when every
byte is copied.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage import resources as rm
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.file.volume import qemu_format
from vdsm.storage.domains.volume import (
    Volume,
    VolumeMetadata,
    format_name,
    type_name,
)
from vdsm.storage.errors import (
    CopyImageError,
    ImageDoesNotExistInSD,
    VolumeAlreadyExists,
)
from vdsm.storage.spm import recovery
from vdsm.storage.volume_copy import prepared
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)

class ImageOperations:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None]) -> None:
        self.cache = cache
        self.resources = resources
        self.guard = guard

    def delete(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str) -> None:
        """deleteImage: every volume ILLEGAL, then the image removed."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            dom = self.cache.produce(sd_uuid)
            mds = image.volumes_metadata(dom, img_uuid)
            self.guard()
            for vol_uuid, md in mds.items():
                if md.image == img_uuid:
                    dom.volume(img_uuid, vol_uuid).update(legality=sc.ILLEGAL_VOL)
            dom.delete_image(img_uuid)

    def copy(self, ctx: TaskContext, *, sd_uuid: str, src_img_uuid: str,
             src_vol_uuid: str, dst_sd_uuid: str, dst_img_uuid: str,
             dst_vol_uuid: str, description: str, vol_type: int, vol_format: int,
             preallocate: int) -> None:
        """copyImage: collapse the chain up to ``src_vol_uuid`` into one
        new volume (a template when ``vol_type`` is SHARED)."""
        if dst_sd_uuid == sc.BLANK_UUID:
            dst_sd_uuid = sd_uuid
        locks = [domain_lock(sd_uuid), domain_lock(dst_sd_uuid),
                 image_lock(sd_uuid, src_img_uuid, rm.SHARED),
                 image_lock(dst_sd_uuid, dst_img_uuid)]
        with self.resources.acquire(locks):
            src_dom = self.cache.produce(sd_uuid)
            dst_dom = self.cache.produce(dst_sd_uuid)
            image.chain(src_dom, src_img_uuid, src_vol_uuid)  # a legal chain
            src = src_dom.volume(src_img_uuid, src_vol_uuid)
            src_md = src.metadata()
            fmt = src_md.format if vol_format == sc.UNKNOWN_VOL else \
                format_name(vol_format)
            alloc = src_md.type if preallocate == sc.UNKNOWN_VOL else \
                type_name(preallocate)
            role = sc.VOL_ROLES.get(vol_type, image.LEAF)
            dst = dst_dom.new_volume(dst_img_uuid, dst_vol_uuid)
            if dst.exists():
                raise VolumeAlreadyExists(f"Volume already exists: {dst_vol_uuid}")
            self.guard()
            created = dst_dom.create_image(dst_img_uuid)
            ctx.add_recovery(recovery.REMOVE_VOLUME, {
                "sd_uuid": dst_sd_uuid, "img_uuid": dst_img_uuid,
                "vol_uuid": dst_vol_uuid, "remove_image": created})
            md = VolumeMetadata.new(
                domain=dst_sd_uuid, image=dst_img_uuid, parent=sc.BLANK_UUID,
                capacity=src_md.capacity, vol_format=fmt, vol_type=alloc,
                disktype=src_md.disktype, description=description, voltype=role)
            dst.write_metadata(md)
            try:
                with prepared(src):
                    _create_target(dst, md, src.path, src_md.format, parent=None)
                    with prepared(dst):
                        qemuimg.convert(src.path, dst.path,
                                        src_format=qemu_format(src_md.format),
                                        dst_format=qemu_format(fmt), create=False)
            except qemuimg.QemuImgError as e:
                raise CopyImageError(f"low level Image copy failed: {e.message}") \
                    from None
            ctx.check_abort()
            dst.create_lease()
            self.guard()
            dst.write_metadata(md.updated(legality=sc.LEGAL_VOL))
            ctx.clear_recoveries()
        log.info("copied %s/%s/%s to %s/%s/%s", sd_uuid, src_img_uuid, src_vol_uuid,
                 dst_sd_uuid, dst_img_uuid, dst_vol_uuid)


def _create_target(dst: Volume, md: VolumeMetadata, src_path: str, src_format: str,
                   *, parent: Volume | None) -> None:
    """The destination's data (file or LV, qcow2 header on ``parent``),
    sized for the copy, before qemu-img writes into it: a block domain's
    volume has no LV until create_data. Raises QemuImgError (measure) and
    create_data's errors."""
    preallocate = md.type == sc.VOL_TYPES[sc.PREALLOCATED_VOL]
    initial = None
    if md.format == sc.VOL_FORMATS[sc.COW_FORMAT]:
        initial = qemuimg.measure(src_path, src_format=qemu_format(src_format),
                                  dst_format=qemuimg.QCOW2)
    dst.create_data(md, parent=parent, preallocate=preallocate, initial_size=initial)


def image_exists(dom: StorageDomain, img_uuid: str) -> bool:
    try:
        image.volumes_metadata(dom, img_uuid)
    except ImageDoesNotExistInSD:
        return False
    return True

