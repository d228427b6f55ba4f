"""Volume-changing jobs of the SPM: create, delete, extend, describe.

Each job takes its resource locks first (domain shared, image exclusive),
checks the SPM guard before every write, and registers an undo step
before each change, so a failure, a stop or a crash (rolled back by the
next SPM) never leaves a half-made volume that looks LEGAL.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.volume import VolumeMetadata, format_name, type_name
from vdsm.storage.errors import (
    CannotDeleteSharedVolume,
    CreateIllegalVolumeSnapshotError,
    CreateVolumeSizeError,
    IncorrectFormat,
    UnexpectedVolumeState,
    VolumeAlreadyExists,
    VolumeImageHasChildren,
    VolumeResizeValueError,
)
from vdsm.storage.spm import recovery
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)

COW = sc.VOL_FORMATS[sc.COW_FORMAT]


def image_lock(sd_uuid: str, img_uuid: str, mode: str = rm.EXCLUSIVE) -> rm.Request:
    return rm.Request(sc.image_namespace(sd_uuid), img_uuid, mode)


def domain_lock(sd_uuid: str, mode: str = rm.SHARED) -> rm.Request:
    return rm.Request(sc.STORAGE_NAMESPACE, sd_uuid, mode)


class VolumeOperations:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None]) -> None:
        self.cache = cache
        self.resources = resources
        self.guard = guard

    @staticmethod
    def check_create(*, size: int, vol_format: int, preallocate: int,
                     initial_size: int = 0) -> None:
        """What createVolume can refuse before a task is started."""
        format_name(vol_format)
        type_name(preallocate)
        if size < 1:
            raise CreateVolumeSizeError(f"Requested size {size} is too small")
        if initial_size < 0:
            raise CreateVolumeSizeError(f"Initial size {initial_size} is negative")

    def create(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str, size: int,
               vol_format: int, preallocate: int, disk_type: str, vol_uuid: str,
               description: str, src_img_uuid: str, src_vol_uuid: str,
               initial_size: int = 0) -> None:
        """createVolume: a RAW/COW volume, or a COW snapshot of a parent;
        ``initial_size`` (0: none) sizes a block COW volume's LV."""
        self.check_create(size=size, vol_format=vol_format, preallocate=preallocate,
                          initial_size=initial_size)
        fmt, alloc = format_name(vol_format), type_name(preallocate)
        same_image = src_img_uuid in (sc.BLANK_UUID, img_uuid)
        locks = [domain_lock(sd_uuid), image_lock(sd_uuid, img_uuid)]
        if src_vol_uuid != sc.BLANK_UUID and not same_image:
            locks.append(image_lock(sd_uuid, src_img_uuid, rm.SHARED))
        with self.resources.acquire(locks):
            dom = self.cache.produce(sd_uuid)
            vol = dom.new_volume(img_uuid, vol_uuid)
            if vol.exists():
                raise VolumeAlreadyExists(f"Volume already exists: {vol_uuid}")
            parent = template = None
            parent_md = None
            if src_vol_uuid == sc.BLANK_UUID and dom.volumes(img_uuid):
                raise UnexpectedVolumeState(
                    f"Image {img_uuid} already has volumes; a new volume of it "
                    "must be a snapshot of its leaf")
            if src_vol_uuid != sc.BLANK_UUID:
                if fmt != COW:
                    raise IncorrectFormat("A volume with a parent must be COW")
                source = dom.volume(img_uuid if same_image else src_img_uuid,
                                    src_vol_uuid)
                parent_md = source.metadata()
                if not parent_md.is_legal:
                    raise CreateIllegalVolumeSnapshotError(
                        f"Parent volume {src_vol_uuid} is illegal")
                if same_image and parent_md.voltype != image.LEAF:
                    raise UnexpectedVolumeState(
                        f"Parent {src_vol_uuid} is {parent_md.voltype}, not the "
                        "image's leaf")
                if not same_image and parent_md.voltype != image.SHARED:
                    raise UnexpectedVolumeState(
                        f"Volume {src_vol_uuid} of another image is not a template")
                size = max(size, parent_md.capacity)
                parent, template = (source, None) if same_image else (None, source)
            self.guard()
            created = dom.create_image(img_uuid)
            ctx.add_recovery(recovery.REMOVE_VOLUME, {
                "sd_uuid": sd_uuid, "img_uuid": img_uuid, "vol_uuid": vol_uuid,
                "remove_image": created})
            if template is not None:
                template.link_into(dom.image_path(img_uuid))
                parent = dom.volume(img_uuid, src_vol_uuid)
            md = VolumeMetadata.new(
                domain=sd_uuid, image=img_uuid, capacity=size, vol_format=fmt,
                vol_type=alloc, disktype=disk_type, description=description,
                parent=src_vol_uuid)
            vol.write_metadata(md)  # ILLEGAL until complete
            ctx.check_abort()
            self.guard()
            vol.create_data(md, parent=parent,
                            preallocate=preallocate == sc.PREALLOCATED_VOL,
                            initial_size=initial_size or None)
            vol.create_lease()
            if parent is not None and template is None:
                ctx.add_recovery(recovery.RESTORE_VOLTYPE, {
                    "sd_uuid": sd_uuid, "img_uuid": img_uuid,
                    "vol_uuid": src_vol_uuid, "voltype": image.LEAF})
                parent.update(voltype=image.INTERNAL)
            ctx.check_abort()
            self.guard()
            vol.write_metadata(md.updated(legality=sc.LEGAL_VOL))
            ctx.clear_recoveries()
        log.info("created volume %s/%s/%s (%s %s, %d bytes)", sd_uuid, img_uuid,
                 vol_uuid, fmt, alloc, size)

    def delete(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
               vol_uuids: list[str], force: bool = False) -> None:
        """deleteVolume: remove leaf volumes (children first), fixing roles."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            dom = self.cache.produce(sd_uuid)
            for vol_uuid in vol_uuids:
                ctx.check_abort()
                mds = image.volumes_metadata(dom, img_uuid)
                md = dom.volume(img_uuid, vol_uuid).metadata()
                kids = image.children(mds, vol_uuid)
                if kids:
                    raise VolumeImageHasChildren(
                        f"Volume {vol_uuid} has children {kids}")
                if md.voltype == image.SHARED and md.image == img_uuid and not force:
                    raise CannotDeleteSharedVolume(f"{vol_uuid} is a template")
                self.guard()
                vol = dom.volume(img_uuid, vol_uuid)
                vol.update(legality=sc.ILLEGAL_VOL)
                vol.remove()
                siblings = [k for k in image.children(mds, md.parent)
                            if k != vol_uuid]
                if md.has_parent and md.parent in mds and not siblings and \
                        mds[md.parent].image == img_uuid:
                    dom.volume(img_uuid, md.parent).update(voltype=image.LEAF)
            dom.remove_image_if_empty(img_uuid)

    def extend_size(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
                    vol_uuid: str, new_size: int) -> None:
        """extendVolumeSize: grow the virtual size (never shrink)."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            vol = self.cache.produce(sd_uuid).volume(img_uuid, vol_uuid)
            md = vol.metadata()
            if new_size < md.capacity:
                raise VolumeResizeValueError(
                    f"New size {new_size} is smaller than {md.capacity}")
            if new_size == md.capacity:
                return
            self.guard()
            vol.extend(new_size, md)
            vol.write_metadata(md.updated(capacity=new_size))

    def update(self, *, sd_uuid: str, img_uuid: str, vol_uuid: str,
               **changes: object) -> None:
        """setVolumeDescription / setVolumeLegality."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            vol = self.cache.produce(sd_uuid).volume(img_uuid, vol_uuid)
            self.guard()
            vol.update(**changes)
