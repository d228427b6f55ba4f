"""OVF store, ISO file stats, image domains and sparsify verbs (thin).

Mixed into the StoragePool, StorageDomain and Image handlers of
vdsm/api/storage.py and storage_images.py; each method calls one service
method. The only wire translation here: a file's readability becomes the
classic status code (0, or StorageServerAccessPermissionError's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.api.dispatcher import error_code
from vdsm.storage.errors import StorageServerAccessPermissionError

if TYPE_CHECKING:
    from vdsm.storage.service import StorageService


class PoolOvfVerbs:
    _svc: StorageService

    def update_v_ms(self, storagepool_id: str, vm_list: list[dict[str, Any]],
                    storagedomain_id: str | None = None) -> None:
        self._svc.ovf.update(storagepool_id, vm_list, storagedomain_id)

    def remove_vm(self, storagepool_id: str, vm_uuid: str,
                  storagedomain_id: str | None = None) -> None:
        self._svc.ovf.remove(storagepool_id, vm_uuid, storagedomain_id)

    def get_backed_up_vms_list(self, storagepool_id: str,
                               storagedomain_id: str | None = None) -> list[str]:
        return self._svc.ovf.list(storagepool_id, storagedomain_id)

    def get_backed_up_vms_info(self, storagepool_id: str,
                               storagedomain_id: str | None = None,
                               vm_list: list[str] | None = None) -> dict[str, str]:
        return self._svc.ovf.info(storagepool_id, storagedomain_id, vm_list)

    def get_domains_containing_image(self, storagepool_id: str,
                                     image_id: str) -> list[str]:
        return self._svc.files.image_domains(storagepool_id, image_id)


class DomainFileVerbs:
    _svc: StorageService

    def get_file_stats(self, storagedomain_id: str, pattern: str = "*",
                       case_sensitive: bool = False) -> dict[str, Any]:
        denied = error_code(StorageServerAccessPermissionError())
        stats = self._svc.files.file_stats(storagedomain_id, pattern,
                                           case_sensitive=case_sensitive)
        return {name: {"size": str(st["size"]), "ctime": str(st["ctime"]),
                       "status": 0 if st["readable"] else denied}
                for name, st in stats.items()}


class ImageSpaceVerbs:
    _svc: StorageService

    def sparsify(self, storagepool_id: str, storagedomain_id: str, image_id: str,
                 volume_id: str) -> str:
        space = self._svc.space
        return self._svc.spm_task(storagepool_id, "sparsifyImage", lambda ctx:
                                  space.sparsify(ctx, sd_uuid=storagedomain_id,
                                                 img_uuid=image_id,
                                                 vol_uuid=volume_id))
