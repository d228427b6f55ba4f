"""Image and Volume verbs: thin handlers over the storage service.

Changing verbs run on the SPM as persisted pool tasks and answer the task
id; reading verbs answer at once on any host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.api.storage_ovf import ImageSpaceVerbs
from vdsm.storage import constants as sc

if TYPE_CHECKING:
    from vdsm.storage.service import StorageService

BLANK = sc.BLANK_UUID


class ImageVerbs(ImageSpaceVerbs):  # sparsifyImage mixed in
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def delete(self, image_id: str, storagepool_id: str, storagedomain_id: str,
               post_zero: bool = False, force: bool = False) -> str:
        ops = self._svc.image_ops
        return self._svc.spm_task(storagepool_id, "deleteImage", lambda ctx: ops.delete(
            ctx, sd_uuid=storagedomain_id, img_uuid=image_id))

    def delete_volumes(self, image_id: str, storagepool_id: str,
                       storagedomain_id: str, volume_list: list[str],
                       post_zero: bool = False, force: bool = False) -> str:
        ops = self._svc.volume_ops
        return self._svc.spm_task(
            storagepool_id, "deleteVolume", lambda ctx: ops.delete(
                ctx, sd_uuid=storagedomain_id, img_uuid=image_id,
                vol_uuids=list(volume_list), force=force))

    def move(self, image_id: str, storagepool_id: str, storagedomain_id: str,
             dst_sd_uuid: str, operation: int, post_zero: bool = False,
             force: bool = False, vm_uuid: str | None = None) -> str:
        return self._svc.copies.move_image(storagepool_id, storagedomain_id,
                                           dst_sd_uuid, image_id, operation)

    def clone_structure(self, image_id: str, storagepool_id: str,
                        storagedomain_id: str, dst_sd_uuid: str) -> str:
        return self._svc.copies.clone_image_structure(
            storagepool_id, storagedomain_id, image_id, dst_sd_uuid)

    def sync_data(self, image_id: str, storagepool_id: str, storagedomain_id: str,
                  dst_sd_uuid: str, sync_type: str) -> str:
        return self._svc.copies.sync_image_data(
            storagepool_id, storagedomain_id, image_id, dst_sd_uuid, sync_type)

    def upload(self, method_args: dict[str, Any], storagepool_id: str,
               storagedomain_id: str, image_id: str, volume_id: str | None = None
               ) -> str:
        return self._svc.transfer_image("upload", storagepool_id, storagedomain_id,
                                        image_id, volume_id, method_args)

    def download(self, method_args: dict[str, Any], storagepool_id: str,
                 storagedomain_id: str, image_id: str, volume_id: str | None = None
                 ) -> str:
        return self._svc.transfer_image("download", storagepool_id,
                                        storagedomain_id, image_id, volume_id,
                                        method_args)

    def prepare(self, storagepool_id: str, storagedomain_id: str, image_id: str,
                volume_id: str | None = None, allow_illegal: bool = False
                ) -> dict[str, Any]:
        result = self._svc.prepare_image(storagedomain_id, storagepool_id, image_id,
                                         volume_id, allow_illegal=allow_illegal)
        result.pop("chain", None)
        return result

    def teardown(self, storagepool_id: str, storagedomain_id: str, image_id: str,
                 volume_id: str | None = None) -> None:
        self._svc.teardown_image(storagedomain_id, storagepool_id, image_id, volume_id)

    def merge_snapshots(self, storagedomain_id: str, storagepool_id: str,
                        vm_id: str, image_id: str, ancestor: str, successor: str,
                        post_zero: bool = False) -> str:
        ops = self._svc.cold_merge
        return self._svc.spm_task(
            storagepool_id, "mergeSnapshots", lambda ctx: ops.merge(
                ctx, sd_uuid=storagedomain_id, img_uuid=image_id,
                ancestor=ancestor, successor=successor, vm_uuid=vm_id))

    def reconcile_volume_chain(self, storagepool_id: str, storagedomain_id: str,
                               image_id: str, leaf_vol_id: str) -> list[str]:
        return self._svc.chains.reconcile(storagedomain_id, storagepool_id,
                                          image_id, leaf_vol_id)


class VolumeVerbs:
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def create(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
               image_id: str, size: int, vol_format: int, preallocate: int,
               disk_type: Any, desc: str, src_img_uuid: str = BLANK,
               src_vol_uuid: str = BLANK, initial_size: int = 0) -> str:
        ops = self._svc.volume_ops
        ops.check_create(size=size, vol_format=vol_format, preallocate=preallocate,
                         initial_size=initial_size)
        return self._svc.spm_task(
            storagepool_id, "createVolume", lambda ctx: ops.create(
                ctx, sd_uuid=storagedomain_id, img_uuid=image_id, size=size,
                vol_format=vol_format, preallocate=preallocate,
                disk_type=str(disk_type or sc.DATA_DISKTYPE), vol_uuid=volume_id,
                description=desc, src_img_uuid=src_img_uuid or BLANK,
                src_vol_uuid=src_vol_uuid or BLANK, initial_size=initial_size))

    def copy(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
             image_id: str, dst_img_uuid: str, dst_vol_uuid: str, desc: str = "",
             dst_sd_uuid: str = BLANK, vol_type: int = sc.SHARED_VOL,
             vol_format: int = sc.UNKNOWN_VOL, preallocate: int = sc.UNKNOWN_VOL,
             post_zero: bool = False, force: bool = False,
             vm_uuid: str | None = None) -> str:
        ops = self._svc.image_ops
        return self._svc.spm_task(storagepool_id, "copyImage", lambda ctx: ops.copy(
            ctx, sd_uuid=storagedomain_id, src_img_uuid=image_id,
            src_vol_uuid=volume_id, dst_sd_uuid=dst_sd_uuid or BLANK,
            dst_img_uuid=dst_img_uuid, dst_vol_uuid=dst_vol_uuid, description=desc,
            vol_type=vol_type, vol_format=vol_format, preallocate=preallocate))

    def extend_size(self, storagepool_id: str, storagedomain_id: str, image_id: str,
                    volume_id: str, new_size: int) -> str:
        ops = self._svc.volume_ops
        return self._svc.spm_task(
            storagepool_id, "extendVolumeSize", lambda ctx: ops.extend_size(
                ctx, sd_uuid=storagedomain_id, img_uuid=image_id, vol_uuid=volume_id,
                new_size=new_size))

    def set_size(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
                 image_id: str, new_size: Any) -> None:
        self._svc.chains.set_size(storagedomain_id, image_id, volume_id, new_size)

    def get_info(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
                 image_id: str) -> dict[str, Any]:
        return self._svc.volume_info(storagedomain_id, storagepool_id, image_id,
                                     volume_id)

    def get_size(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
                 image_id: str) -> dict[str, str]:
        return self._svc.volume_size(storagedomain_id, image_id, volume_id)

    def get_path(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
                 image_id: str) -> str:
        return self._svc.volume_path(storagedomain_id, image_id, volume_id)

    def refresh(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
                image_id: str) -> None:
        self._svc.refresh_volume(storagedomain_id, image_id, volume_id)

    def set_description(self, volume_id: str, storagepool_id: str,
                        storagedomain_id: str, image_id: str, description: str) -> None:
        self._update(storagepool_id, "setVolumeDescription", storagedomain_id,
                     image_id, volume_id, description=description)

    def set_legality(self, volume_id: str, storagepool_id: str, storagedomain_id: str,
                     image_id: str, legality: str) -> None:
        self._update(storagepool_id, "setVolumeLegality", storagedomain_id, image_id,
                     volume_id, legality=legality)

    def _update(self, sp_uuid: str, verb: str, sd_uuid: str, img_uuid: str,
                vol_uuid: str, **changes: Any) -> None:
        ops = self._svc.volume_ops
        self._svc.spm_sync(sp_uuid, verb, lambda ctx: ops.update(
            sd_uuid=sd_uuid, img_uuid=img_uuid, vol_uuid=vol_uuid, **changes))
