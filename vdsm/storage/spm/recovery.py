"""Named undo steps of the SPM's tasks (see vdsm.tasks.recovery).

A task registers a step before the change it undoes, with JSON arguments
naming what to undo; after a crash, the next SPM (this host restarted, or
another host) loads the task from the master domain and runs the steps.
Every step is idempotent and refuses to write when this host is no longer
the SPM (the guard), leaving the task for the next SPM.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.errors import ImageDoesNotExistInSD, VolumeDoesNotExist
from vdsm.tasks.recovery import RecoveryRegistry

log = logging.getLogger(__name__)

REMOVE_VOLUME = "storage.remove_volume"
RESTORE_VOLTYPE = "storage.restore_voltype"
REMOVE_IMAGE = "storage.remove_image"


class Recoveries:
    def __init__(self, cache: DomainCache, guard: Callable[[], None]) -> None:
        self.cache = cache
        self.guard = guard

    def register(self, registry: RecoveryRegistry) -> None:
        registry.register(REMOVE_VOLUME, self.remove_volume)
        registry.register(RESTORE_VOLTYPE, self.restore_voltype)
        registry.register(REMOVE_IMAGE, self.remove_image)

    def remove_volume(self, sd_uuid: str, img_uuid: str, vol_uuid: str,
                      remove_image: bool = False) -> None:
        """Remove a volume a task created (whatever part of it exists)."""
        self.guard()
        dom = self.cache.produce(sd_uuid)
        vol = dom.new_volume(img_uuid, vol_uuid)
        if vol.exists():
            # Make it unusable first: a reader must never take it as LEGAL.
            try:
                vol.update(legality=sc.ILLEGAL_VOL)
            except (VolumeDoesNotExist, OSError) as e:
                log.debug("volume %s metadata already gone: %s", vol_uuid, e)
            vol.remove()
        if remove_image:
            try:
                if not dom.volumes(img_uuid) or set(dom.volumes(img_uuid)) <= \
                        self._shared(dom, img_uuid):
                    dom.delete_image(img_uuid)
            except ImageDoesNotExistInSD:
                pass
        else:
            dom.remove_image_if_empty(img_uuid)
        log.info("rolled back volume %s/%s/%s", sd_uuid, img_uuid, vol_uuid)

    def _shared(self, dom: StorageDomain, img_uuid: str) -> set[str]:
        """Template volumes linked into an image (not its own)."""
        shared = set()
        for vol_uuid in dom.volumes(img_uuid):
            md = dom.volume(img_uuid, vol_uuid).metadata()
            if md.image != img_uuid:
                shared.add(vol_uuid)
        return shared

    def restore_voltype(self, sd_uuid: str, img_uuid: str, vol_uuid: str,
                        voltype: str) -> None:
        """Give a parent back the role it had before a snapshot was added."""
        self.guard()
        dom = self.cache.produce(sd_uuid)
        try:
            dom.volume(img_uuid, vol_uuid).update(voltype=voltype)
        except VolumeDoesNotExist:
            log.warning("volume %s is gone; nothing to restore", vol_uuid)

    def remove_image(self, sd_uuid: str, img_uuid: str) -> None:
        """Remove an image a task created (copy or move destination)."""
        self.guard()
        try:
            self.cache.produce(sd_uuid).delete_image(img_uuid)
        except ImageDoesNotExistInSD:
            pass
