"""The VM verbs as service calls: what the thin API handlers call.

Each method finds the VM, calls one operation module and returns the
payload value. Errors are VdsmError subclasses (NoSuchVM, VMIsDown...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vdsm.common.errors import MethodNotImplemented
from vdsm.virt import (
    diskalign,
    disksize,
    guestops,
    hibernation,
    hostdevs,
    hotplug,
    lifecycle,
    livemerge,
    qos,
    replication,
    secrets,
    snapshot,
    vmdevices,
    vmgraphics,
    vmparams,
)
from vdsm.virt.context import VirtContext
from vdsm.virt.migration import control as migration
from vdsm.virt.migration import destination
from vdsm.virt.vm import Vm
from vdsm.virt.vmstats import vm_stats

log = logging.getLogger(__name__)


class VirtService:
    def __init__(self, ctx: VirtContext) -> None:
        self.ctx = ctx
        # host services (issue 14): the gate new VMs pass (raises to refuse
        # them, e.g. after prepareForShutdown) and the host devices
        self.admission: Callable[[], None] = lambda: None
        self.hostdevs: hostdevs.HostDevices | None = None

    def vm(self, vm_id: str) -> Vm:
        return self.ctx.registry.get(vm_id)

    # --- life cycle ------------------------------------------------------
    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        self.admission()
        vmdef = vmparams.parse(params)
        vm = lifecycle.create(self.ctx, vmdef)
        return vm.definition()

    def destroy(self, vm_id: str) -> None:
        lifecycle.destroy(self.ctx, self.vm(vm_id))

    def pause(self, vm_id: str) -> None:
        lifecycle.pause(self.ctx, self.vm(vm_id))

    def cont(self, vm_id: str) -> None:
        lifecycle.cont(self.ctx, self.vm(vm_id))

    def reset(self, vm_id: str) -> None:
        lifecycle.reset(self.ctx, self.vm(vm_id))

    def shutdown(self, vm_id: str, **kwargs: Any) -> None:
        lifecycle.shutdown(self.ctx, self.vm(vm_id), **kwargs)

    def hibernate(self, vm_id: str, handle: Any) -> None:
        hibernation.hibernate(self.ctx, self.vm(vm_id), handle)

    # --- live snapshot (issue 12) ----------------------------------------
    def snapshot(self, vm_id: str, snap_drives: Any, *, memory: Any = None,
                 frozen: bool = False, timeout: Any = None,
                 freeze_timeout: Any = None) -> None:
        snapshot.snapshot(self.ctx, self.vm(vm_id), snap_drives, memory=memory,
                          frozen=frozen, timeout=timeout,
                          freeze_timeout=freeze_timeout)

    # --- migration -------------------------------------------------------
    def migrate(self, vm_id: str, params: dict[str, Any]) -> dict[str, Any]:
        return migration.migrate(self.ctx, self.vm(vm_id), params)

    def migration_create(self, params: dict[str, Any],
                         incoming_limit: int | None) -> dict[str, Any]:
        self.admission()
        return destination.migration_create(self.ctx, params, incoming_limit)

    def migrate_cancel(self, vm_id: str) -> None:
        migration.cancel(self.vm(vm_id))

    def migrate_change_params(self, vm_id: str, params: dict[str, Any]) -> None:
        migration.change_params(self.vm(vm_id), params)

    def migration_status(self, vm_id: str) -> dict[str, Any]:
        return migration.status(self.vm(vm_id))

    # --- devices and consoles -------------------------------------------
    def change_media(self, vm_id: str, spec: Any, *, device: str) -> dict[str, Any]:
        vm = self.vm(vm_id)
        vmdevices.change_media(self.ctx, vm, spec, device=device)
        return vm.definition()

    def hotplug_disk(self, vm_id: str, drive: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        vmdevices.hotplug_disk(self.ctx, vm, drive)
        return vm.definition()

    def hotunplug_disk(self, vm_id: str, drive: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        vmdevices.hotunplug_disk(self.ctx, vm, drive)
        return vm.definition()

    def hotplug_nic(self, vm_id: str, nic: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        vmdevices.hotplug_nic(self.ctx, vm, nic)
        return vm.definition()

    def hotunplug_nic(self, vm_id: str, nic: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        vmdevices.hotunplug_nic(self.ctx, vm, nic)
        return vm.definition()

    def set_ticket(self, vm_id: str, password: str, ttl: int,
                   existing: str, params: dict[str, Any] | None) -> None:
        vmgraphics.set_ticket(self.ctx, self.vm(vm_id), password, ttl,
                              existing, params or {})

    def send_keys(self, vm_id: str, keys: list[str]) -> None:
        vmgraphics.send_keys(self.ctx, self.vm(vm_id), keys)

    # --- QoS and CPU/memory hotplug (issue 12) ------------------------------
    def set_io_tune(self, vm_id: str, tunables: Any) -> None:
        qos.set_io_tune(self.ctx, self.vm(vm_id), tunables)

    def get_io_tune(self, vm_id: str) -> list[dict[str, Any]]:
        return qos.get_io_tune(self.ctx, self.vm(vm_id))

    def get_io_tune_policy(self, vm_id: str) -> list[dict[str, Any]]:
        return qos.io_tune_policy(self.vm(vm_id))

    def all_io_tune_policies(self) -> dict[str, dict[str, Any]]:
        return qos.all_io_tune_policies(self.ctx.registry.all())

    def set_cpu_tune(self, vm_id: str, key: str, value: Any) -> None:
        qos.set_cpu_tune(self.ctx, self.vm(vm_id), key, value)

    def update_vm_policy(self, vm_id: str, params: Any) -> None:
        qos.update_vm_policy(self.ctx, self.vm(vm_id), params)

    def set_number_of_cpus(self, vm_id: str, count: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        hotplug.set_number_of_cpus(self.ctx, vm, count)
        return vm.definition()

    def hotplug_memory(self, vm_id: str, params: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        hotplug.hotplug_memory(self.ctx, vm, params)
        return vm.definition()

    def hotunplug_memory(self, vm_id: str, params: Any) -> None:
        hotplug.hotunplug_memory(self.ctx, self.vm(vm_id), params)

    def update_device(self, vm_id: str, params: Any) -> dict[str, Any]:
        vm = self.vm(vm_id)
        hotplug.update_device(self.ctx, vm, params)
        return vm.definition()

    # --- running VMs' disks: replication, resize, alignment; secrets -----
    def disk_replicate_start(self, vm_id: str, src: Any, dst: Any,
                             need_extend: bool = True) -> None:
        replication.start(self.ctx, self.vm(vm_id), src, dst,
                          need_extend=need_extend)

    def disk_replicate_finish(self, vm_id: str, src: Any, dst: Any) -> None:
        replication.finish(self.ctx, self.vm(vm_id), src, dst)

    def disk_size_extend(self, vm_id: str, spec: Any, new_size: Any) -> str:
        return disksize.extend(self.ctx, self.vm(vm_id), spec, new_size)

    def disk_alignment(self, vm_id: str, spec: Any) -> dict[str, bool]:
        return diskalign.disk_alignment(self.ctx, vm_id, spec)

    def register_secrets(self, items: Any, *, clear: bool) -> None:
        secrets.register(self.ctx.conn.get(), items, clear=clear)

    def unregister_secrets(self, uuids: Any) -> None:
        secrets.unregister(self.ctx.conn.get(), uuids)

    # --- disks' chains (issue 12) ----------------------------------------
    def merge(self, vm_id: str, drive: dict[str, Any], base: str, top: str, *,
              bandwidth: int = 0, job_id: str | None = None) -> None:
        livemerge.merge(self.ctx, self.vm(vm_id), drive, base, top,
                        bandwidth=bandwidth, job_id=job_id)

    # --- views -----------------------------------------------------------
    def stats(self, vm_id: str) -> list[dict[str, Any]]:
        return [vm_stats(self.vm(vm_id))]

    def all_stats(self) -> list[dict[str, Any]]:
        return [vm_stats(vm) for vm in self.ctx.registry.all()]

    def info(self, vm_id: str) -> dict[str, Any]:
        return self.vm(vm_id).definition()

    def list(self, *, full: bool, only: list[str] | None) -> list[dict[str, Any]]:
        vms = self.ctx.registry.all()
        if only:
            wanted = set(only)
            vms = [vm for vm in vms if vm.id in wanted]
        if full:
            return [vm.definition() for vm in vms]
        return [{"vmId": vm.id, "status": vm.status, "vmName": vm.vmdef.name}
                for vm in vms]

    # --- inside the guest (guest agents, balloon) -------------------------
    def freeze(self, vm_id: str) -> None:
        guestops.freeze(self.ctx, self.vm(vm_id))

    def thaw(self, vm_id: str) -> None:
        guestops.thaw(self.ctx, self.vm(vm_id))

    def set_balloon_target(self, vm_id: str, target: int | str) -> None:
        guestops.set_balloon_target(self.ctx, self.vm(vm_id), target)

    def desktop_login(self, vm_id: str, domain: str, username: str,
                      password: str) -> None:
        guestops.desktop_command(self.ctx, self.vm(vm_id), "login", {
            "username": guestops.login_name(domain, username),
            "password": password})

    def desktop_logoff(self, vm_id: str, force: bool) -> None:
        guestops.desktop_command(self.ctx, self.vm(vm_id), "log-off")

    def desktop_lock(self, vm_id: str) -> None:
        guestops.desktop_command(self.ctx, self.vm(vm_id), "lock-screen")

    def desktop_send_hc_command(self, vm_id: str, message: str) -> None:
        guestops.desktop_command(self.ctx, self.vm(vm_id), str(message))

    # --- host devices (issue 14) -----------------------------------------
    def hotplug_hostdev(self, vm_id: str, names: list[str]) -> list[str]:
        return hostdevs.hotplug(self.ctx, self.vm(vm_id), self._hostdevs(),
                                names)

    def hotunplug_hostdev(self, vm_id: str, names: list[str]) -> list[str]:
        return hostdevs.hotunplug(self.ctx, self.vm(vm_id), self._hostdevs(),
                                  names)

    def _hostdevs(self) -> hostdevs.HostDevices:
        if self.hostdevs is None:
            raise MethodNotImplemented("Not implemented: no host devices")
        return self.hostdevs
