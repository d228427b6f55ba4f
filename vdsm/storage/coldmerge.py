"""Cold merge (mergeSnapshots, an SPM job): snapshots of a VM that is down
collapsed with qemu-img.

As in the classic agent, ``successor`` keeps its UUID and absorbs the
volumes from ``ancestor`` up to its parent, which leave the image. The
steps, each crash-safe and each skipped by a retry that finds it done:

1. ``qemu-img rebase`` (safe mode) of ``successor`` onto ``ancestor``'s
   parent (none for a base): the data it reads through the volumes
   leaving is copied into it first, its backing pointer changes last, so
   the chain reads the same data at every moment of the copy;
2. its metadata parent follows (the leaving volumes are now outside the
   image's chain, which stays usable);
3. the leaving volumes are marked ILLEGAL;
4. and removed.

A kill -9 anywhere leaves a usable chain; the engine's retry with the
same arguments finds what is done (qemu-img's view of the backing file,
the volumes outside the chain) and completes. Each write is preceded by
the SPM guard, the crash tests' pause point (``write``).
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage import resources as rm
from vdsm.storage.domains import image
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.volume import VolumeMetadata
from vdsm.storage.errors import MergeSnapshotsError, VolumeDoesNotExist
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)


class ColdMerge:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None]) -> None:
        self.cache = cache
        self.resources = resources
        self.guard = guard

    def merge(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
              ancestor: str, successor: str, vm_uuid: str = "") -> None:
        """Collapse ``ancestor``..parent of ``successor`` into ``successor``.
        Raises VolumeDoesNotExist (no successor), MergeSnapshotsError
        (``ancestor`` is not below ``successor``, qemu-img failed)."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            dom = self.cache.produce(sd_uuid)
            mds = image.volumes_metadata(dom, img_uuid)
            if successor not in mds:
                raise VolumeDoesNotExist(f"Volume does not exist: {successor}")
            leaving = _leaving(mds, ancestor, successor)
            if leaving:
                new_parent = mds[ancestor].parent
                self._rebase(ctx, dom, img_uuid, successor, new_parent)
                ctx.check_abort()
                self.guard()
                dom.volume(img_uuid, successor).update(parent=new_parent)
                log.info("cold merge %s/%s: %s now on %s (vm %s)", sd_uuid,
                         img_uuid, successor, new_parent, vm_uuid or "-")
            # from here on (and on a retry) the volumes outside the chain go
            ctx.clear_recoveries()
            self._remove_outside(dom, img_uuid)

    def _rebase(self, ctx: TaskContext, dom: StorageDomain, img_uuid: str,
                successor: str, new_parent: str) -> None:
        vol = dom.volume(img_uuid, successor)
        target = "" if new_parent == sc.BLANK_UUID else new_parent
        info = qemuimg.info(vol.path, fmt=qemuimg.QCOW2)
        if os.path.basename(info.get("backing-filename", "")) == target:
            log.info("cold merge: %s is on %s already", successor, target or "nothing")
            return
        parent_format = None
        if target:
            parent_format = qemuimg.format_name(_format_number(
                dom.volume(img_uuid, target).metadata().format))
        self.guard()
        try:
            qemuimg.rebase(vol.path, backing=target, backing_format=parent_format,
                           cwd=os.path.dirname(vol.path))
        except qemuimg.QemuImgError as e:
            raise MergeSnapshotsError(f"Error merging snapshots: {e}") from None

    def _remove_outside(self, dom: StorageDomain, img_uuid: str) -> None:
        """The image's volumes outside its leaf's chain: ILLEGAL, then gone."""
        mds = image.volumes_metadata(dom, img_uuid)
        kept = set(image.chain(dom, img_uuid))
        outside = sorted(u for u, md in mds.items()
                         if u not in kept and md.image == img_uuid
                         and md.voltype != image.SHARED)
        for vol_uuid in outside:
            if mds[vol_uuid].legality != sc.ILLEGAL_VOL:
                self.guard()
                dom.volume(img_uuid, vol_uuid).update(legality=sc.ILLEGAL_VOL)
        for vol_uuid in outside:
            self.guard()
            dom.volume(img_uuid, vol_uuid).remove()
            log.info("cold merge %s: removed %s", img_uuid, vol_uuid)


def _leaving(mds: dict[str, VolumeMetadata], ancestor: str,
             successor: str) -> list[str]:
    """``ancestor`` .. parent of ``successor``, from the metadata. [] when
    a former run got past the metadata step (the ancestor is outside
    successor's chain, or gone); MergeSnapshotsError when ``ancestor`` is
    ``successor`` or above it."""
    path = []
    current = mds[successor].parent
    while current in mds and current not in path:
        path.append(current)
        if current == ancestor:
            return path
        current = mds[current].parent
    if ancestor in mds and _above_or_same(mds, ancestor, successor):
        raise MergeSnapshotsError(
            f"Error merging snapshots: {ancestor} is not below {successor}")
    log.info("cold merge: %s is out of %s's chain already (a retry)",
             ancestor, successor)
    return []


def _above_or_same(mds: dict[str, VolumeMetadata], vol: str, of: str) -> bool:
    """``vol`` is ``of`` or one of its descendants."""
    seen: set[str] = set()
    current = vol
    while current in mds and current not in seen:
        if current == of:
            return True
        seen.add(current)
        current = mds[current].parent
    return False


def _format_number(name: str) -> int:
    for number, text in sc.VOL_FORMATS.items():
        if text == name:
            return number
    raise MergeSnapshotsError(f"Error merging snapshots: unknown format {name}")
