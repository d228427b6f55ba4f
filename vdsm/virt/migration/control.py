"""The migration verbs on the source: migrate, cancel, change, status.

Checks happen before anything moves (a refused migrate leaves the VM as
it was); the status change to Migration Source happens under the VM's
lock, so two migrate calls cannot both start.
"""

from __future__ import annotations

import logging
from typing import Any

import libvirt

from vdsm.common.errors import InvalidParameter, VdsmError
from vdsm.virt import status as st
from vdsm.virt.context import VirtContext
from vdsm.virt.migration import params as mparams
from vdsm.virt.migration.source import SourceMigration
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import running_domain

log = logging.getLogger(__name__)


class MigrationError(VdsmError):
    name = "MigrationError"
    default_message = "Fatal error during migration"


class MigrationInProgress(VdsmError):
    name = "MigrationInProgress"
    default_message = "Command not supported during migration"


class MigrationCancelationFailed(VdsmError):
    name = "MigrationCancelationFailed"
    default_message = "Migration not in progress"


class MigrationNotInProgress(VdsmError):
    name = "MigrationNotInProgress"
    default_message = "Migration not in progress"


MIGRATABLE = (st.UP, st.PAUSED)


def migrate(ctx: VirtContext, vm: Vm, params: dict[str, Any]) -> dict[str, Any]:
    """Start migrating ``vm``; answers at once (classic: progress 0)."""
    if not isinstance(params, dict):
        raise InvalidParameter("Invalid parameter: migrate params must be "
                               "a struct")
    req = mparams.parse(params, vm.id)
    if ctx.peers is None:
        raise MigrationError("Fatal error during migration: this host has no "
                             "client credentials for other agents")
    with vm.lock:
        running_domain(ctx, vm)
        if vm.migration is not None and vm.migration.active:
            raise MigrationInProgress(f"Command not supported during "
                                      f"migration: {vm.id} is migrating")
        if vm.status not in MIGRATABLE:
            raise MigrationError(f"Fatal error during migration: VM {vm.id} "
                                 f"is {vm.status}")
        if req.abort_on_error and vm.status == st.PAUSED \
                and vm.pause_code != st.PAUSE_NONE:
            raise MigrationError(f"Fatal error during migration: VM {vm.id} "
                                 f"is paused on an I/O error ({vm.pause_code})")
        ctx.outgoing.set_bound(req.outgoing_limit)
        job = SourceMigration(ctx, vm, req)
        vm.migration = job
        vm.set_status(st.MIGRATION_SOURCE)
    log.info("vm %s: migration to %s requested", vm.id, req.dst)
    job.start()
    return {"progress": 0}


def cancel(vm: Vm) -> None:
    job = vm.migration
    if job is None or not job.active:
        raise MigrationCancelationFailed(f"Migration not in progress: {vm.id}")
    job.cancel()


def change_params(vm: Vm, params: Any) -> None:
    job = vm.migration
    if job is None or not job.active:
        raise MigrationNotInProgress(f"Migration not in progress: {vm.id}")
    if not isinstance(params, dict):
        raise InvalidParameter("Invalid parameter: migrateChangeParams params "
                               "must be a struct")
    bandwidth = params.get("maxBandwidth")
    downtime = params.get("downtime")
    if bandwidth is None and downtime is None:
        raise InvalidParameter("Invalid parameter: migrateChangeParams needs "
                               "maxBandwidth or downtime")
    try:
        job.change(
            max_bandwidth=None if bandwidth is None
            else mparams.to_int(bandwidth, "maxBandwidth", minimum=0),
            downtime=None if downtime is None
            else mparams.to_int(downtime, "downtime", minimum=1))
    except libvirt.libvirtError as e:
        raise MigrationNotInProgress(f"Migration not in progress: "
                                     f"{e.get_error_message()}") from None


def status(vm: Vm) -> dict[str, Any]:
    """The classic migrationStats of the VM's latest outgoing migration."""
    job = vm.migration
    if job is None:
        return {"vmId": vm.id, "status": {"code": 0, "message":
                                          "No migration"}, "progress": 0}
    return job.stats()
