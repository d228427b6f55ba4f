"""Storage verbs: thin handlers over the storage service.

StoragePool.*, StorageDomain.*, Image.*, Volume.*, LVMVolumeGroup.*,
ISCSIConnection.* and the storage Host.* verbs. Handlers turn wire values
into service calls and service results into payloads; SPM verbs answer a
task id (``uuid``). Error names become codes only here (connection status
lists) and in the dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.api.dispatcher import error_code
from vdsm.api.services import TaskScheduler
from vdsm.api.storage_images import ImageVerbs, VolumeVerbs
from vdsm.api.storage_ovf import DomainFileVerbs, PoolOvfVerbs
from vdsm.api.storage_sdm import SdmVerbs
from vdsm.storage import constants as sc
from vdsm.storage.domains import monitor
from vdsm.storage.errors import InvalidParameterException
from vdsm.storage.spm import reconstruct

if TYPE_CHECKING:
    from vdsm.storage.service import StorageService

BLANK = sc.BLANK_UUID


def handlers(service: StorageService, host_tasks: TaskScheduler
             ) -> dict[str, object]:
    """``host_tasks`` runs the host-wide jobs (spmStart)."""
    return {
        "Host": StorageHostVerbs(service),
        "StoragePool": PoolVerbs(service, host_tasks),
        "StorageDomain": DomainVerbs(service),
        "Image": ImageVerbs(service),
        "Volume": VolumeVerbs(service),
        "LVMVolumeGroup": VolumeGroupVerbs(service),
        "ISCSIConnection": IscsiConnectionVerbs(service),
        "SDM": SdmVerbs(service),
    }


def _statuslist(results: list[Any]) -> list[dict[str, Any]]:
    return [{"id": con_id, "status": 0 if err is None else error_code(err)}
            for con_id, err in results]


def _blank(value: str | None) -> str | None:
    return None if value in (None, "", BLANK) else value


class StorageHostVerbs:
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def get_storage_domains(self, storagepool_id: str | None = None,
                            domain_class: int | None = None,
                            storage_type: int | None = None,
                            remote_path: str | None = None) -> list[str]:
        return self._svc.domains.list(sp_uuid=_blank(storagepool_id),
                                      dom_class=domain_class or None,
                                      storage_type=storage_type or None,
                                      remote_path=remote_path or None)

    def get_connected_storage_pools(self) -> list[str]:
        return self._svc.connected_pools()

    def get_storage_repo_stats(self, domains: list[str] | None = None
                               ) -> dict[str, Any]:
        return monitor.repo_stats(self._svc.repo_statuses(domains), error_code)

    def start_monitoring_domain(self, sd_uuid: str, host_id: int) -> None:
        self._svc.start_monitoring_domain(sd_uuid, host_id)

    def stop_monitoring_domain(self, sd_uuid: str) -> None:
        self._svc.stop_monitoring_domain(sd_uuid)

    def get_storage_connections_list(self, storagepool_id: str | None = None
                                     ) -> list[dict[str, Any]]:
        return self._svc.connections.list()

    def get_device_list(self, storage_type: int | None = None,
                        guids: list[str] | None = None,
                        check_status: bool = True,
                        refresh: bool = True) -> list[dict[str, Any]]:
        return self._svc.blocks.device_list(storage_type=storage_type,
                                            guids=guids or (),
                                            check_status=check_status)

    def get_devices_visibility(self, guid_list: list[str]) -> dict[str, bool]:
        return self._svc.blocks.visibility(guid_list)

    def get_lvm_volume_groups(self, storage_type: int | None = None
                              ) -> list[dict[str, Any]]:
        return self._svc.blocks.vg_list(storage_type)


class VolumeGroupVerbs:
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def create(self, name: str, devlist: list[str], force: bool = False) -> str:
        return self._svc.blocks.create_vg(name, devlist, force=force)

    def get_info(self, lvmvolumegroup_id: str) -> dict[str, Any]:
        return self._svc.blocks.vg_info(lvmvolumegroup_id)

    def remove(self, lvmvolumegroup_id: str) -> None:
        self._svc.blocks.remove_vg(lvmvolumegroup_id)


class IscsiConnectionVerbs:
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def discover_send_targets(self, con: dict[str, Any] | None = None,
                              host: str = "", port: int = 3260, user: str = "",
                              password: str = "", ipv6_enabled: bool = False
                              ) -> dict[str, list[str]]:
        """The classic ``con`` struct, or the later named parameters."""
        if not con:
            con = {"connection": host, "port": port, "user": user,
                   "password": password, "ipv6_enabled": ipv6_enabled}
        return self._svc.discover_send_targets(con)


class PoolVerbs(PoolOvfVerbs):  # the OVF store verbs mixed in
    def __init__(self, service: StorageService, host_tasks: TaskScheduler) -> None:
        self._svc = service
        self._host_tasks = host_tasks

    def connect_storage_server(self, storagepool_id: str, domain_type: int,
                               connection_params: list[dict[str, Any]]) -> list[Any]:
        return _statuslist(self._svc.connect_storage_server(domain_type,
                                                            connection_params))

    def disconnect_storage_server(self, storagepool_id: str, domain_type: int,
                                  connection_params: list[dict[str, Any]]
                                  ) -> list[Any]:
        return _statuslist(self._svc.disconnect_storage_server(domain_type,
                                                               connection_params))

    def validate_storage_server_connection(self, storagepool_id: str,
                                           domain_type: int,
                                           connection_params: list[dict[str, Any]]
                                           ) -> list[Any]:
        return _statuslist(self._svc.validate_storage_server_connection(
            domain_type, connection_params))

    def create(self, storagepool_id: str, name: str, master_sd_uuid: str,
               master_version: int, domain_list: Any = None, pool_type: Any = None,
               lock_policy: str | None = None,
               lock_renewal_interval_sec: int | None = None,
               lease_time_sec: int | None = None, io_op_timeout_sec: int | None = None,
               lease_retries: int | None = None) -> None:
        self._svc.create_storage_pool(
            sp_uuid=storagepool_id, name=name, master_uuid=master_sd_uuid,
            master_version=master_version, lease_params={
                sc.MD_LOCK_POLICY: lock_policy,
                sc.MD_LOCK_RENEWAL: lock_renewal_interval_sec,
                sc.MD_LEASE_TIME: lease_time_sec, sc.MD_IO_TIMEOUT: io_op_timeout_sec,
                sc.MD_LEASE_RETRIES: lease_retries})

    def connect(self, storagepool_id: str, host_id: int, scsi_key: Any,
                master_sd_uuid: str, master_version: int,
                domain_dict: Any = None) -> None:
        self._svc.connect_storage_pool(sp_uuid=storagepool_id, host_id=host_id,
                                       master_uuid=master_sd_uuid,
                                       master_version=master_version)

    def disconnect(self, storagepool_id: str, host_id: int, scsi_key: Any,
                   remove: bool = False) -> None:
        self._svc.disconnect_storage_pool(storagepool_id)

    def destroy(self, storagepool_id: str, host_id: int, scsi_key: Any) -> None:
        self._svc.destroy_storage_pool(storagepool_id)

    def get_info(self, storagepool_id: str) -> dict[str, Any]:
        return self._svc.storage_pool_info(storagepool_id)

    def refresh(self, storagepool_id: str, master_sd_uuid: str,
                master_version: int) -> None:
        self._svc.refresh_storage_pool(storagepool_id, master_sd_uuid, master_version)

    def spm_start(self, storagepool_id: str, prev_id: int = -1, prev_lver: int = -1,
                  recovery_mode: Any = None, enable_scsi_fencing: Any = False,
                  max_host_id: int | None = None,
                  dom_version: int | None = None) -> str:
        return self._svc.spm_start(storagepool_id, self._host_tasks)

    def spm_stop(self, storagepool_id: str) -> None:
        self._svc.spm_stop(storagepool_id)

    def get_spm_status(self, storagepool_id: str) -> dict[str, Any]:
        return self._svc.spm_status(storagepool_id)

    def move_multiple_images(self, storagepool_id: str, src_sd_uuid: str,
                             dst_sd_uuid: str, img_dict: dict[str, Any],
                             vm_uuid: str = "", force: bool = False) -> str:
        return self._svc.copies.move_multiple_images(
            storagepool_id, src_sd_uuid, dst_sd_uuid, list(img_dict))

    def get_iso_list(self, storagepool_id: str, extension: str = "iso") -> list[str]:
        return self._svc.files.iso_files(storagepool_id, f"*.{extension}")

    def get_floppy_list(self, storagepool_id: str) -> list[str]:
        return self._svc.files.iso_files(storagepool_id, "*.vfd")

    def set_description(self, storagepool_id: str, description: str) -> None:
        self._svc.pool_verb(storagepool_id, "setStoragePoolDescription",
                            "set_description", description)

    # --- pool recovery ---
    def reconstruct_master(self, storagepool_id: str, name: str, master_sd_uuid: str,
                           master_version: int, domain_dict: dict[str, str],
                           host_id: int | None = None, lock_policy: str | None = None,
                           lock_renewal_interval_sec: int | None = None,
                           lease_time_sec: int | None = None,
                           io_op_timeout_sec: int | None = None,
                           lease_retries: int | None = None) -> None:
        if host_id is None:
            raise InvalidParameterException("Invalid parameter: hostId is required",
                                            name="hostId", value=None)
        self._svc.recovery.reconstruct_master(reconstruct.Request(
            sp_uuid=storagepool_id, host_id=host_id, name=name,
            master_uuid=master_sd_uuid, domains=dict(domain_dict),
            master_version=master_version, lease_params={
                sc.MD_LOCK_POLICY: lock_policy,
                sc.MD_LOCK_RENEWAL: lock_renewal_interval_sec,
                sc.MD_LEASE_TIME: lease_time_sec, sc.MD_IO_TIMEOUT: io_op_timeout_sec,
                sc.MD_LEASE_RETRIES: lease_retries}))

    def upgrade(self, storagepool_id: str, target_dom_version: int) -> str:
        return self._svc.recovery.upgrade_pool(storagepool_id,
                                               target_dom_version)["upgradeStatus"]

    def fence(self, storagepool_id: str, last_owner: int, last_lver: int
              ) -> dict[str, Any]:
        return self._svc.recovery.fence_spm(storagepool_id, last_owner, last_lver)


class DomainVerbs(DomainFileVerbs):  # getFileStats mixed in
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    def create(self, storagedomain_id: str, domain_type: int, type_args: str,
               name: str, domain_class: int, version: int | None = None) -> None:
        self._svc.domains.create(storage_type=domain_type, sd_uuid=storagedomain_id,
                                 name=name, type_arg=type_args,
                                 dom_class=domain_class, version=version)

    def format(self, storagedomain_id: str, auto_detach: bool = False) -> None:
        self._svc.domains.format(storagedomain_id, auto_detach=auto_detach)

    def validate(self, storagedomain_id: str) -> None:
        self._svc.domains.validate(storagedomain_id)

    def get_info(self, storagedomain_id: str) -> dict[str, Any]:
        return self._svc.domains.info(storagedomain_id)

    def get_stats(self, storagedomain_id: str) -> dict[str, Any]:
        return self._svc.domains.stats(storagedomain_id)

    def get_images(self, storagedomain_id: str) -> list[str]:
        return self._svc.domains.images(storagedomain_id)

    def get_volumes(self, storagedomain_id: str, storagepool_id: str = BLANK,
                    image_id: str = BLANK) -> list[str]:
        return self._svc.domains.volumes(storagedomain_id, image_id)

    def set_description(self, storagedomain_id: str, description: str) -> None:
        self._svc.domains.set_description(storagedomain_id, description)

    def extend(self, storagedomain_id: str, storagepool_id: str, devlist: list[str],
               force: bool = False) -> None:
        self._svc.block_growth.extend_storage_domain(
            storagepool_id, storagedomain_id, devlist, force=force)

    def resize_pv(self, storagedomain_id: str, storagepool_id: str, guid: str) -> str:
        return str(self._svc.block_growth.resize_pv(storagepool_id,
                                                    storagedomain_id, guid))

    def attach(self, storagedomain_id: str, storagepool_id: str) -> None:
        self._svc.pool_verb(storagepool_id, "attachStorageDomain", "attach",
                            storagedomain_id)

    def detach(self, storagedomain_id: str, storagepool_id: str,
               master_sd_uuid: str | None = None, master_version: int | None = None,
               force: bool = False) -> None:
        if force:
            self.forced_detach(storagedomain_id, storagepool_id)
            return
        self._svc.pool_verb(storagepool_id, "detachStorageDomain", "detach",
                            storagedomain_id)

    def forced_detach(self, storagedomain_id: str, storagepool_id: str) -> None:
        self._svc.recovery.forced_detach(storagedomain_id, _blank(storagepool_id))

    def activate(self, storagedomain_id: str, storagepool_id: str) -> None:
        self._svc.pool_verb(storagepool_id, "activateStorageDomain", "activate",
                            storagedomain_id)

    def deactivate(self, storagedomain_id: str, storagepool_id: str,
                   master_sd_uuid: str | None = None,
                   master_version: int | None = None) -> None:
        self._svc.deactivate_domain(storagepool_id, storagedomain_id, master_sd_uuid,
                                    master_version)
