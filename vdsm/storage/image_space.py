"""sparsifyImage as an SPM task: one volume, under its image lock.

The task holds the domain (shared) and the image (exclusive) so no other
job touches the volume, refuses an ILLEGAL volume (half made), and calls
:func:`vdsm.storage.sparsify.sparsify`, which replaces the volume file
atomically: there is nothing to roll back, so no recovery is registered.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from vdsm.storage import resources as rm
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.errors import ImagesActionError
from vdsm.storage.sparsify import Trim, sparsify
from vdsm.storage.volumes import domain_lock, image_lock
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)


class ImageSpace:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None], *, trim: Trim | None) -> None:
        """``trim``: the privileged host trim of a RAW image's file systems,
        None where the configuration does not allow it."""
        self.cache = cache
        self.resources = resources
        self.guard = guard
        self.trim = trim

    def sparsify(self, ctx: TaskContext, *, sd_uuid: str, img_uuid: str,
                 vol_uuid: str) -> dict[str, Any]:
        """Raises VolumeDoesNotExist, ImagesActionError."""
        with self.resources.acquire([domain_lock(sd_uuid),
                                     image_lock(sd_uuid, img_uuid)]):
            vol = self.cache.produce(sd_uuid).volume(img_uuid, vol_uuid)
            if not vol.metadata().is_legal:
                raise ImagesActionError(f"Cannot sparsify {vol_uuid}: the volume "
                                        "is ILLEGAL")
            ctx.check_abort()
            self.guard()
            return sparsify(vol, trim=self.trim).as_dict()
