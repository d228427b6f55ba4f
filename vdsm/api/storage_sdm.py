"""SDM namespace verbs: thin handlers over the storage service's SDM jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.storage.errors import InvalidParameterException

if TYPE_CHECKING:
    from vdsm.storage.service import StorageService


class SdmVerbs:
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def create_volume(self, job_id: str, vol_info: dict[str, Any]) -> None:
        self._svc.sdm.create_volume(job_id, vol_info)

    def copy_data(self, job_id: str, source: dict[str, Any],
                  destination: dict[str, Any], copy_bitmaps: bool = False) -> None:
        if copy_bitmaps:
            raise InvalidParameterException("Invalid parameter: copy_bitmaps is not "
                                            "supported")
        self._svc.sdm.copy_data(job_id, source, destination)

    def amend_volume(self, job_id: str, vol_info: dict[str, Any],
                     qcow2_attr: dict[str, Any]) -> None:
        self._svc.sdm.amend_volume(job_id, vol_info, qcow2_attr)

    def update_volume(self, job_id: str, vol_info: dict[str, Any],
                      vol_attr: dict[str, Any]) -> None:
        self._svc.sdm.update_volume(job_id, vol_info, vol_attr)
