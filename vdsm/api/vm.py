"""VM namespace verbs and the Host verbs about VMs: thin handlers.

Each handler maps the classic arguments onto one call of the virt
service (:mod:`vdsm.virt.service`) and returns its payload; the virt
subsystem registers these objects with the dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.api.dispatcher import error_code
from vdsm.common.errors import InvalidParameter, MissingParameter

if TYPE_CHECKING:
    from vdsm.virt.service import VirtService


def _vm_id_of(params: Any, vm_id: str | None, what: str) -> str:
    """The VM id of a classic ``params`` struct (``params['vmId']``)."""
    given = params.get("vmId") if isinstance(params, dict) else None
    if vm_id and given and given != vm_id:
        raise InvalidParameter(f"Invalid parameter: {what}: vmID {vm_id} and "
                               f"params vmId {given} differ")
    found = vm_id or given
    if not found:
        raise MissingParameter(f"Missing required parameter: {what} needs vmId")
    if not isinstance(found, str):
        raise InvalidParameter(f"Invalid parameter: {what}: vmId must be a "
                               f"string, not {type(found).__name__}")
    return found


class VmVerbs:
    def __init__(self, service: VirtService) -> None:
        self._svc = service

    def create(self, vm_params: dict[str, Any],
               vm_id: str | None = None) -> dict[str, Any]:
        params = dict(vm_params)
        params["vmId"] = _vm_id_of(params, vm_id, "create")
        return self._svc.create(params)

    def destroy(self, vm_id: str, graceful_attempts: int | None = None) -> None:
        self._svc.destroy(vm_id)

    def pause(self, vm_id: str) -> None:
        self._svc.pause(vm_id)

    def cont(self, vm_id: str) -> None:
        self._svc.cont(vm_id)

    def reset(self, vm_id: str) -> None:
        self._svc.reset(vm_id)

    def shutdown(self, vm_id: str, delay: int | None = None,
                 message: str | None = None, reboot: bool = False,
                 timeout: int | None = None, force: bool = False) -> None:
        self._svc.shutdown(vm_id, delay=delay or 0, message=message or "",
                           reboot=bool(reboot),
                           timeout=float(timeout) if timeout else None,
                           force=bool(force))

    def hibernate(self, vm_id: str, hibernation_vol_handle: Any) -> None:
        self._svc.hibernate(vm_id, hibernation_vol_handle)

    # --- live snapshot (issue 12) ----------------------------------------
    def snapshot(self, vm_id: str, snap_drives: list[dict[str, Any]],
                 snap_memory: str | None = None, frozen: bool = False,
                 job_uuid: str | None = None, timeout: int | None = None,
                 freeze_timeout: int | None = None) -> None:
        # A host job as the classic agent makes (the engine may follow it
        # by jobUUID in Host.getJobs); here the work is done when we answer.
        job = self._svc.ctx.jobs.add("virt", f"snapshot of VM {vm_id}",
                                     job_id=job_uuid or None)
        job.start()
        try:
            self._svc.snapshot(vm_id, snap_drives, memory=snap_memory or None,
                               frozen=bool(frozen), timeout=timeout,
                               freeze_timeout=freeze_timeout)
        except Exception as e:
            job.fail(error_code(e), str(e))
            raise
        job.finish()

    def set_ticket(self, vm_id: str, password: str, ttl: int,
                   existing_conn_action: str = "disconnect",
                   params: dict[str, Any] | None = None) -> None:
        self._svc.set_ticket(vm_id, password, ttl, existing_conn_action, params)

    def change_cd(self, vm_id: str, drive_spec: Any) -> dict[str, Any]:
        return self._svc.change_media(vm_id, drive_spec, device="cdrom")

    def change_floppy(self, vm_id: str, drive_spec: Any) -> dict[str, Any]:
        return self._svc.change_media(vm_id, drive_spec, device="floppy")

    def send_keys(self, vm_id: str, key_sequence: list[str]) -> None:
        self._svc.send_keys(vm_id, key_sequence)

    def hotplug_disk(self, params: dict[str, Any],
                     vm_id: str | None = None) -> dict[str, Any]:
        vm_id = _vm_id_of(params, vm_id, "hotplugDisk")
        return self._svc.hotplug_disk(vm_id, _part(params, "drive"))

    def hotunplug_disk(self, params: dict[str, Any],
                       vm_id: str | None = None) -> dict[str, Any]:
        vm_id = _vm_id_of(params, vm_id, "hotunplugDisk")
        return self._svc.hotunplug_disk(vm_id, _part(params, "drive"))

    def hotplug_nic(self, params: dict[str, Any],
                    vm_id: str | None = None) -> dict[str, Any]:
        vm_id = _vm_id_of(params, vm_id, "hotplugNic")
        return self._svc.hotplug_nic(vm_id, _part(params, "nic"))

    def hotunplug_nic(self, params: dict[str, Any],
                      vm_id: str | None = None) -> dict[str, Any]:
        vm_id = _vm_id_of(params, vm_id, "hotunplugNic")
        return self._svc.hotunplug_nic(vm_id, _part(params, "nic"))

    def migrate(self, params: dict[str, Any],
                vm_id: str | None = None) -> dict[str, Any]:
        vm_id = _vm_id_of(params, vm_id, "migrate")
        return self._svc.migrate(vm_id, params)

    def migration_create(self, params: dict[str, Any],
                         vm_id: str | None = None,
                         incoming_limit: int | None = None) -> dict[str, Any]:
        params = dict(params)
        params["vmId"] = _vm_id_of(params, vm_id, "migrationCreate")
        return self._svc.migration_create(params, incoming_limit or None)

    def get_migration_status(self, vm_id: str) -> dict[str, Any]:
        return self._svc.migration_status(vm_id)

    def migrate_cancel(self, vm_id: str) -> None:
        self._svc.migrate_cancel(vm_id)

    def migrate_change_params(self, vm_id: str, params: dict[str, Any]) -> None:
        self._svc.migrate_change_params(vm_id, params)

    def get_stats(self, vm_id: str) -> list[dict[str, Any]]:
        return self._svc.stats(vm_id)

    def get_info(self, vm_id: str) -> dict[str, Any]:
        return self._svc.info(vm_id)

    # --- running VMs' disks: replication, resize, alignment -------------
    def disk_replicate_start(self, vm_id: str, src_disk: Any, dst_disk: Any,
                             need_extend: bool = True) -> None:
        self._svc.disk_replicate_start(vm_id, src_disk, dst_disk,
                                       need_extend=need_extend)

    def disk_replicate_finish(self, vm_id: str, src_disk: Any,
                              dst_disk: Any) -> None:
        self._svc.disk_replicate_finish(vm_id, src_disk, dst_disk)

    def disk_size_extend(self, vm_id: str, drive_specs: Any,
                         new_size: Any) -> str:
        return self._svc.disk_size_extend(vm_id, drive_specs, new_size)

    def get_disk_alignment(self, vm_id: str, disk: Any) -> dict[str, bool]:
        return self._svc.disk_alignment(vm_id, disk)

    # --- inside the guest ------------------------------------------------
    def freeze(self, vm_id: str) -> None:
        self._svc.freeze(vm_id)

    def thaw(self, vm_id: str) -> None:
        self._svc.thaw(vm_id)

    def set_balloon_target(self, vm_id: str, target: int) -> None:
        self._svc.set_balloon_target(vm_id, target)

    def merge(self, vm_id: str, drive: dict[str, Any], base_vol_uuid: str,
              top_vol_uuid: str, bandwidth: int = 0,
              job_uuid: str | None = None) -> None:
        self._svc.merge(vm_id, drive, base_vol_uuid, top_vol_uuid,
                        bandwidth=int(bandwidth or 0), job_id=job_uuid)

    def desktop_login(self, vm_id: str, domain: str, username: str,
                      password: str) -> None:
        self._svc.desktop_login(vm_id, domain, username, password)

    def desktop_logoff(self, vm_id: str, force: bool = False) -> None:
        self._svc.desktop_logoff(vm_id, bool(force))

    def desktop_lock(self, vm_id: str) -> None:
        self._svc.desktop_lock(vm_id)

    def desktop_send_hc_command(self, vm_id: str, message: str) -> None:
        self._svc.desktop_send_hc_command(vm_id, message)


    # --- QoS and CPU/memory hotplug (issue 12) ------------------------------
    def set_io_tune(self, vm_id: str, tunables: list[Any]) -> None:
        self._svc.set_io_tune(vm_id, tunables)

    def get_io_tune(self, vm_id: str) -> list[dict[str, Any]]:
        return self._svc.get_io_tune(vm_id)

    def get_io_tune_policy(self, vm_id: str) -> list[dict[str, Any]]:
        return self._svc.get_io_tune_policy(vm_id)

    def set_cpu_tune_quota(self, vm_id: str, quota: int) -> None:
        self._svc.set_cpu_tune(vm_id, "vcpu_quota", quota)

    def set_cpu_tune_period(self, vm_id: str, period: int) -> None:
        self._svc.set_cpu_tune(vm_id, "vcpu_period", period)

    def update_vm_policy(self, params: dict[str, Any],
                         vm_id: str | None = None) -> None:
        self._svc.update_vm_policy(_vm_id_of(params, vm_id, "updateVmPolicy"),
                                   params)

    def set_number_of_cpus(self, vm_id: str, number_of_cpus: Any,
                           cpusets: Any = None) -> dict[str, Any]:
        return self._svc.set_number_of_cpus(vm_id, number_of_cpus)

    def hotplug_memory(self, params: dict[str, Any],
                       vm_id: str | None = None) -> dict[str, Any]:
        vm_id = _vm_id_of(params, vm_id, "hotplugMemory")
        return self._svc.hotplug_memory(vm_id, params)

    def hotunplug_memory(self, params: dict[str, Any],
                         vm_id: str | None = None) -> None:
        vm_id = _vm_id_of(params, vm_id, "hotunplugMemory")
        self._svc.hotunplug_memory(vm_id, params)

    def update_device(self, vm_id: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._svc.update_device(vm_id, params)


def _part(params: dict[str, Any], key: str) -> Any:
    if key not in params:
        raise MissingParameter(f"Missing required parameter: params needs "
                               f"{key!r}")
    return params[key]


class VirtHostVerbs:
    """Host namespace verbs served by the virt subsystem."""

    def __init__(self, service: VirtService) -> None:
        self._svc = service

    def get_vm_list(self, full_status: bool = False,
                    vm_list: list[str] | None = None,
                    only_uuid: bool = False) -> list[Any]:
        vms = self._svc.list(full=bool(full_status) and not only_uuid,
                             only=vm_list or None)
        if only_uuid:
            return [vm["vmId"] for vm in vms]
        return vms

    def get_vm_full_list(self, vm_list: list[str] | None = None) -> list[Any]:
        return self._svc.list(full=True, only=vm_list or None)

    def get_all_vm_stats(self) -> list[dict[str, Any]]:
        return self._svc.all_stats()

    def get_all_vm_io_tune_policies(self) -> dict[str, dict[str, Any]]:
        return self._svc.all_io_tune_policies()

    # --- libvirt secrets for network disks -------------------------------
    def register_secrets(self, secrets: list[Any], clear: bool = False) -> None:
        self._svc.register_secrets(secrets, clear=bool(clear))

    def unregister_secrets(self, uuids: list[str]) -> None:
        self._svc.unregister_secrets(uuids)
