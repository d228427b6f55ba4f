"""The copy-between-domains verbs as the API calls them: each checks its
input at once (so a wrong call answers its error code instead of a task
id) and queues one SPM task (vdsm/storage/image_copy.py does the work)."""

from __future__ import annotations

from typing import Any, Callable

from vdsm.storage import image_copy
from vdsm.storage import resources as rm
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.volume_copy import VolumeCopier

SpmTask = Callable[[str, str, Callable[[Any], Any]], str]


class CopyService:
    def __init__(self, cache: DomainCache, resources: rm.ResourceManager,
                 guard: Callable[[], None], spm_task: SpmTask,
                 require_spm: Callable[[str], Any], bandwidth_mib: float) -> None:
        """``spm_task(sp_uuid, verb, job)`` queues a pool task;
        ``require_spm(sp_uuid)`` raises unless this host is its SPM (checked
        before the input, as every changing verb answers 654 first); the
        copies are limited to ``bandwidth_mib`` MiB/s each (0: no limit)."""
        self.ops = image_copy.ImageCopy(
            cache, resources, guard, VolumeCopier(bandwidth_mib=float(bandwidth_mib)))
        self._spm_task = spm_task
        self._require_spm = require_spm

    def clone_image_structure(self, sp_uuid: str, sd_uuid: str, img_uuid: str,
                              dst_sd_uuid: str) -> str:
        self._require_spm(sp_uuid)
        self.ops.check(sd_uuid, dst_sd_uuid, [img_uuid])
        return self._spm_task(sp_uuid, "cloneImageStructure",
                              lambda ctx: self.ops.clone_structure(
                                  ctx, sd_uuid=sd_uuid, img_uuid=img_uuid,
                                  dst_sd_uuid=dst_sd_uuid))

    def sync_image_data(self, sp_uuid: str, sd_uuid: str, img_uuid: str,
                        dst_sd_uuid: str, sync_type: str) -> str:
        self._require_spm(sp_uuid)
        image_copy.check_sync_type(sync_type)
        self.ops.check(sd_uuid, dst_sd_uuid, [img_uuid])
        return self._spm_task(sp_uuid, "syncImageData",
                              lambda ctx: self.ops.sync_data(
                                  ctx, sd_uuid=sd_uuid, img_uuid=img_uuid,
                                  dst_sd_uuid=dst_sd_uuid, sync_type=sync_type))

    def move_image(self, sp_uuid: str, src_sd_uuid: str, dst_sd_uuid: str,
                   img_uuid: str, op: int) -> str:
        self._require_spm(sp_uuid)
        self.ops.check(src_sd_uuid, dst_sd_uuid, [img_uuid])
        return self._spm_task(sp_uuid, "moveImage", lambda ctx: self.ops.move(
            ctx, src_sd_uuid=src_sd_uuid, dst_sd_uuid=dst_sd_uuid,
            img_uuid=img_uuid, op=op))

    def move_multiple_images(self, sp_uuid: str, src_sd_uuid: str,
                             dst_sd_uuid: str, img_uuids: list[str]) -> str:
        self._require_spm(sp_uuid)
        self.ops.check(src_sd_uuid, dst_sd_uuid, img_uuids)
        return self._spm_task(sp_uuid, "moveMultipleImages",
                              lambda ctx: self.ops.move_multiple(
                                  ctx, src_sd_uuid=src_sd_uuid,
                                  dst_sd_uuid=dst_sd_uuid, img_uuids=img_uuids))
