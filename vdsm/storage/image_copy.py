"""Images copied between the domains of a pool, as SPM tasks.

cloneImageStructure makes the same chain of empty ILLEGAL volumes on the
destination; syncImageData fills them (all, the internal ones, or the
leaf) and marks each LEGAL once copied; moveImage (op 1 copy, 2 move) and
moveMultipleImages copy whole chains, check each copy with ``qemu-img
compare`` and only then remove the sources. Rollback: a destination image
this task created is registered for removal before its first volume is
made (storage.remove_image), so a failed, stopped or killed task leaves
none behind; a sync never has a half volume LEGAL (each is ILLEGAL while
written) and can simply be run again.

Locks: both domains shared; the source images shared (exclusive when they
are moved away), the destination images exclusive.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.file.volume import qemu_format
from vdsm.storage.errors import (
    DestImageActionError,
    ImageDoesNotExistInSD,
    InvalidParameterException,
    MiscNotImplementedException,
    MoveImageError,
    MultipleMoveImageError,
    StorageError,
)
from vdsm.storage.images import image_exists
from vdsm.storage.spm import recovery
from vdsm.storage.volume_copy import VolumeCopier, create_target, same_data
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)

MOVE_OP = 2
SYNC_ALL, SYNC_INTERNAL, SYNC_LEAF = "ALL", "INTERNAL", "LEAF"
SYNC_TYPES = (SYNC_ALL, SYNC_INTERNAL, SYNC_LEAF)


def check_sync_type(sync_type: str) -> None:
    """MiscNotImplementedException (the classic answer) for an unknown one."""
    if sync_type not in SYNC_TYPES:
        raise MiscNotImplementedException(
            f"Unknown syncType {sync_type!r}: one of {', '.join(SYNC_TYPES)}")


def sync_selection(chain: list[str], sync_type: str) -> list[str]:
    """The volumes of a chain (base first) that ``sync_type`` copies."""
    check_sync_type(sync_type)
    if sync_type == SYNC_ALL:
        return list(chain)
    if sync_type == SYNC_INTERNAL:
        return chain[:-1]
    return chain[-1:]


class ImageCopy:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None], copier: VolumeCopier) -> None:
        self.cache = cache
        self.resources = resources
        self.guard = guard
        self.copier = copier

    def check(self, src_sd_uuid: str, dst_sd_uuid: str, img_uuids: list[str]) -> None:
        """Before a task is queued: two distinct known domains, every image
        on the source. Raises InvalidParameterException, the domain
        lookup's errors, ImageDoesNotExistInSD."""
        if src_sd_uuid == dst_sd_uuid:
            raise InvalidParameterException(
                f"Invalid parameter: dstSdUUID must differ from the source "
                f"domain {src_sd_uuid}")
        src_dom = self.cache.produce(src_sd_uuid)
        self.cache.produce(dst_sd_uuid)
        for img_uuid in img_uuids:
            image.volumes_metadata(src_dom, img_uuid)

    def _locks(self, src: str, dst: str, images: list[str],
               src_mode: str = rm.SHARED) -> list[rm.Request]:
        return [domain_lock(src), domain_lock(dst),
                *(image_lock(src, i, src_mode) for i in images),
                *(image_lock(dst, i) for i in images)]

    # --- the verbs --------------------------------------------------------

    def clone_structure(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
                        dst_sd_uuid: str) -> None:
        """cloneImageStructure: empty ILLEGAL volumes, same chain."""
        with self.resources.acquire(self._locks(sd_uuid, dst_sd_uuid, [img_uuid])):
            src_dom = self.cache.produce(sd_uuid)
            dst_dom = self.cache.produce(dst_sd_uuid)
            vols = self._source_chain(src_dom, dst_dom, img_uuid, DestImageActionError)
            self._clone_chain(ctx, src_dom, dst_dom, img_uuid, vols)
            ctx.clear_recoveries()
        log.info("cloned the structure of image %s from %s to %s", img_uuid,
                 sd_uuid, dst_sd_uuid)

    def sync_data(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
                  dst_sd_uuid: str, sync_type: str) -> None:
        """syncImageData: copy the selected volumes into the cloned chain."""
        check_sync_type(sync_type)
        with self.resources.acquire(self._locks(sd_uuid, dst_sd_uuid, [img_uuid])):
            src_dom = self.cache.produce(sd_uuid)
            dst_dom = self.cache.produce(dst_sd_uuid)
            src_chain = image.chain(src_dom, img_uuid)
            try:
                dst_chain = image.chain(dst_dom, img_uuid)
            except ImageDoesNotExistInSD:
                raise DestImageActionError(
                    f"Image {img_uuid} has no structure on {dst_sd_uuid}: "
                    f"clone it first") from None
            if dst_chain != src_chain:
                raise DestImageActionError(
                    f"Image {img_uuid}: chain {dst_chain} on {dst_sd_uuid} "
                    f"differs from {src_chain} on {sd_uuid}")
            self._copy_volumes(ctx, src_dom, dst_dom, img_uuid,
                               sync_selection(src_chain, sync_type), (0, 1))
        log.info("synced image %s (%s) from %s to %s", img_uuid, sync_type,
                 sd_uuid, dst_sd_uuid)

    def move(self, ctx: TaskContext, *, src_sd_uuid: str, dst_sd_uuid: str,
             img_uuid: str, op: int) -> None:
        """moveImage: copy the chain (op 1), and remove the source (op 2)."""
        self._move(ctx, src_sd_uuid, dst_sd_uuid, [img_uuid],
                   remove=op == MOVE_OP, error=MoveImageError)

    def move_multiple(self, ctx: TaskContext, *, src_sd_uuid: str, dst_sd_uuid: str,
                      img_uuids: list[str]) -> None:
        """moveMultipleImages: all images copied and checked, then all
        sources removed; any failure removes every copy made."""
        self._move(ctx, src_sd_uuid, dst_sd_uuid, img_uuids, remove=True,
                   error=MultipleMoveImageError)

    # --- steps --------------------------------------------------------------

    def _move(self, ctx: TaskContext, src_sd_uuid: str, dst_sd_uuid: str,
              img_uuids: list[str], *, remove: bool,
              error: type[StorageError]) -> None:
        mode = rm.EXCLUSIVE if remove else rm.SHARED
        with self.resources.acquire(self._locks(src_sd_uuid, dst_sd_uuid, img_uuids,
                                                mode)):
            src_dom = self.cache.produce(src_sd_uuid)
            dst_dom = self.cache.produce(dst_sd_uuid)
            chains = {i: self._source_chain(src_dom, dst_dom, i, error)
                      for i in img_uuids}
            for n, (img_uuid, vols) in enumerate(chains.items()):
                self._clone_chain(ctx, src_dom, dst_dom, img_uuid, vols)
                self._copy_volumes(ctx, src_dom, dst_dom, img_uuid, vols,
                                   (n, len(chains)))
                self._verify(src_dom, dst_dom, img_uuid, vols[-1], error)
            ctx.clear_recoveries()
            if remove:
                for img_uuid, vols in chains.items():
                    self.guard()
                    for vol_uuid in vols:
                        src_dom.volume(img_uuid, vol_uuid).update(
                            legality=sc.ILLEGAL_VOL)
                    src_dom.delete_image(img_uuid)
        log.info("%s images %s from %s to %s", "moved" if remove else "copied",
                 img_uuids, src_sd_uuid, dst_sd_uuid)

    def _source_chain(self, src_dom: StorageDomain, dst_dom: StorageDomain,
                      img_uuid: str, error: type[StorageError]) -> list[str]:
        """The image's own chain (base first); it must not be on the
        destination yet nor be based on a template."""
        vols = image.chain(src_dom, img_uuid)
        base = src_dom.volume(img_uuid, vols[0]).metadata()
        if base.image != img_uuid:
            raise error(f"Image {img_uuid} is based on template {base.image}; "
                        f"copy the template first")
        if image_exists(dst_dom, img_uuid):
            raise error(f"Image {img_uuid} already exists on {dst_dom.sd_uuid}")
        return vols

    def _new_image(self, ctx: TaskContext, dst_dom: StorageDomain,
                   img_uuid: str) -> None:
        self.guard()
        ctx.add_recovery(recovery.REMOVE_IMAGE, {"sd_uuid": dst_dom.sd_uuid,
                                                 "img_uuid": img_uuid})
        dst_dom.create_image(img_uuid)

    def _clone_chain(self, ctx: TaskContext, src_dom: StorageDomain,
                     dst_dom: StorageDomain, img_uuid: str, vols: list[str]) -> None:
        """The destination image (registered for removal) and an empty
        target for each of ``vols``, in chain order (each parent made just
        before its child, in this task)."""
        self._new_image(ctx, dst_dom, img_uuid)
        for vol_uuid in vols:
            ctx.check_abort()
            self.guard()
            create_target(src_dom.volume(img_uuid, vol_uuid), dst_dom, img_uuid,
                          fresh_parent=True)

    def _copy_volumes(self, ctx: TaskContext, src_dom: StorageDomain,
                      dst_dom: StorageDomain, img_uuid: str, vols: list[str],
                      part: tuple[int, int]) -> None:
        """Copy ``vols`` in order; progress covers share ``part`` (index,
        count) of the task."""
        index, count = part
        count = max(count, 1)
        for i, vol_uuid in enumerate(vols):
            ctx.check_abort()
            self.guard()
            src = src_dom.volume(img_uuid, vol_uuid)
            md = src.metadata()
            parent_format = None
            if md.has_parent:
                parent_format = qemu_format(
                    src_dom.volume(img_uuid, md.parent).metadata().format)
            done = (index + i / len(vols)) / count

            def progress(percent: float, done: float = done) -> None:
                ctx.set_progress(100 * (done + percent / 100 / len(vols) / count))
            self.copier.copy(src, dst_dom.volume(img_uuid, vol_uuid),
                             parent_format=parent_format, progress=progress,
                             aborting=lambda: ctx.aborting)
        ctx.check_abort()
        ctx.set_progress(100 * (index + 1) / count)

    def _verify(self, src_dom: StorageDomain, dst_dom: StorageDomain,
                img_uuid: str, leaf: str, error: type[StorageError]) -> None:
        """The copy reads the same as its source, before any source goes."""
        if not same_data(src_dom.volume(img_uuid, leaf),
                         dst_dom.volume(img_uuid, leaf)):
            raise error(f"Image {img_uuid}: the copy on {dst_dom.sd_uuid} "
                        f"differs from its source")
