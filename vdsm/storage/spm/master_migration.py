"""Master migration: the SPM moves the pool's master role to another domain.

deactivateStorageDomain on the master names the new master (an active
data domain of the pool) and a greater master version. The job runs as a
persisted pool task; every step registers its undo step first-class in the
task (named recoveries below), so a failure midway rolls back to the old
master, and a crash leaves the undo stack for the next SPM.

Steps, in an order where any prefix leaves one usable master:
  1. the host id on the new master (its monitor acquires it);
  2. copy ``master/{tasks,vms}`` to the new master (undo: remove the copies);
  3. take the SPM lease on the new master (undo: release it);
  4. write the pool keys and ROLE=Master into the new master's metadata
     (undo: restore its previous keys);
  5. strip the pool keys from the old master, ROLE=Regular (undo: restore);
  6. switch the pool object and its links (``mastersd``) to the new master.
After step 6 the undo stack is cleared (point of no return); the old SPM
lease is released and the old master is deactivated as a regular domain.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.errors import (
    BackupCannotBeMasterDomain,
    InvalidParameterException,
    IsoCannotBeMasterDomain,
    SpmStartError,
    StorageDomainMasterError,
    StorageDomainNotActive,
)
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.spm.pool import StoragePool, format_domains
from vdsm.tasks.context import TaskContext
from vdsm.tasks.recovery import RecoveryRegistry

log = logging.getLogger(__name__)

POOL_KEYS = (sc.PMD_DESCRIPTION, sc.PMD_DOMAINS, sc.PMD_SPM_ID, sc.PMD_SPM_LVER,
             sc.PMD_MASTER_VERSION)
LEASE_KEYS = (sc.MD_LOCK_POLICY, sc.MD_LOCK_RENEWAL, sc.MD_LEASE_TIME,
              sc.MD_LEASE_RETRIES)
MASTER_CONTENT = (sc.TASKS_DIR, sc.VMS_DIR)

REMOVE_MASTER_COPY = "storage.master.remove_copy"
RELEASE_SPM_LEASE = "storage.master.release_lease"
RESTORE_METADATA = "storage.master.restore_metadata"
RESTORE_POOL_MASTER = "storage.master.restore_pool_master"


def validate(pool: StoragePool, sd_uuid: str, new_master: str,
             master_version: int) -> None:
    """Refuse a bad request before anything changes.

    Raises StorageDomainMasterError (version not greater: the classic
    StoragePoolWrongMaster), InvalidParameterException (new == old),
    StorageDomainNotActive (not an active member), IsoCannotBeMasterDomain,
    BackupCannotBeMasterDomain.
    """
    md = pool.metadata()
    current = pool.master_version(md)
    if master_version <= current:
        raise StorageDomainMasterError(
            f"Wrong Master domain or its version: pool {pool.sp_uuid} master "
            f"{pool.master_uuid} is at version {current}; the new version "
            f"{master_version} must be greater")
    if new_master == sd_uuid:
        raise InvalidParameterException(f"msdUUID {new_master} is the current master",
                                        name="msdUUID", value=new_master)
    if pool.domains(md).get(new_master) != sc.DOM_ACTIVE:
        raise StorageDomainNotActive(
            f"Storage domain not active: {new_master} is not an active domain "
            f"of pool {pool.sp_uuid}")
    dom_class = pool.cache.produce(new_master).dom_class()
    if dom_class == sc.ISO_DOMAIN:
        raise IsoCannotBeMasterDomain(f"{new_master} is an ISO domain")
    if dom_class == sc.BACKUP_DOMAIN:
        raise BackupCannotBeMasterDomain(f"{new_master} is a backup domain")


class MasterMigration:
    """The job and its undo steps; built for the current SPM's pool."""

    def __init__(self, pool: StoragePool, leases: LeaseManager, *,
                 guard: Callable[[], None], host_id_timeout: float) -> None:
        self.pool = pool
        self.leases = leases
        self.guard = guard
        self.host_id_timeout = host_id_timeout

    def run(self, ctx: TaskContext, sd_uuid: str, new_uuid: str,
            master_version: int) -> int:
        """Move the master role from ``sd_uuid`` to ``new_uuid``; return the
        new SPM lease version (LVER).

        A file system error on either domain is reported as a master error
        (its undo steps, registered on ``ctx``, then run)."""
        try:
            return self._migrate(ctx, sd_uuid, new_uuid, master_version)
        except OSError as e:
            raise StorageDomainMasterError(
                f"Master migration from {sd_uuid} to {new_uuid} failed: {e}"
            ) from e

    def _migrate(self, ctx: TaskContext, sd_uuid: str, new_uuid: str,
                 master_version: int) -> int:
        pool = self.pool
        old = pool.cache.produce(sd_uuid)
        new = pool.cache.produce(new_uuid)
        if not pool.monitor.wait_for_host_id(new_uuid, self.host_id_timeout):
            raise SpmStartError(f"Host id {pool.host_id} not acquired on the new "
                                f"master {new_uuid} within {self.host_id_timeout:g}s")
        ctx.check_abort()

        self.guard()
        new.create_master_dir()
        copied = []
        for sub in MASTER_CONTENT:
            src = os.path.join(old.master_dir, sub)
            for name in _listdir(src):
                if name == ctx.task_id:
                    continue  # this task ends (and is cleared) on the old master
                copied.append(os.path.join(sub, name))
        ctx.add_recovery(REMOVE_MASTER_COPY, {"sd_uuid": new_uuid, "paths": copied})
        for rel in copied:
            _copy(os.path.join(old.master_dir, rel), os.path.join(new.master_dir, rel))

        self.guard()
        ctx.add_recovery(RELEASE_SPM_LEASE, {"sd_uuid": new_uuid})
        lease = self.leases.acquire(new_uuid, sc.SDM_LEASE_NAME, new.leases_path,
                                    sc.SDM_LEASE_OFFSET)

        old_md = old.read_metadata()
        new_md = new.read_metadata()
        moved = (POOL_KEYS + LEASE_KEYS + (sc.MD_ROLE,))
        ctx.add_recovery(RESTORE_METADATA, {
            "sd_uuid": new_uuid, "values": {k: new_md.get(k) for k in moved}})
        domains = pool.domains(old_md)
        changes: dict[str, Any] = {k: old_md[k] for k in LEASE_KEYS if k in old_md}
        changes.update({
            sc.MD_ROLE: sc.MASTER_DOMAIN,
            sc.PMD_DESCRIPTION: old_md.get(sc.PMD_DESCRIPTION, ""),
            sc.PMD_DOMAINS: format_domains(domains),
            sc.PMD_SPM_ID: pool.host_id, sc.PMD_SPM_LVER: lease.version,
            sc.PMD_MASTER_VERSION: master_version})
        self.guard()
        new.update_metadata(changes)

        # undone in reverse: the old keys first, then the links from them
        ctx.add_recovery(RESTORE_POOL_MASTER, {"sd_uuid": sd_uuid})
        ctx.add_recovery(RESTORE_METADATA, {
            "sd_uuid": sd_uuid, "values": {k: old_md.get(k) for k in moved}})
        self.guard()
        old.update_metadata({sc.MD_ROLE: sc.REGULAR_DOMAIN,
                             **{k: None for k in POOL_KEYS}})

        pool.master_uuid = new_uuid
        pool.refresh_links()
        ctx.check_abort()
        ctx.clear_recoveries()  # the new master is the master now

        try:
            self.leases.release(sd_uuid, sc.SDM_LEASE_NAME, old.leases_path,
                                sc.SDM_LEASE_OFFSET)
        except VdsmError as e:
            log.error("cannot release the SPM lease on the old master %s: %s",
                      sd_uuid, e)
        log.info("pool %s: master moved from %s to %s (version %s, lver %s)",
                 pool.sp_uuid, sd_uuid, new_uuid, master_version, lease.version)
        return lease.version

    # --- undo steps -------------------------------------------------------------
    def remove_copy(self, sd_uuid: str, paths: list[str]) -> None:
        self.guard()
        master_dir = self.pool.cache.produce(sd_uuid).master_dir
        for rel in paths:
            path = os.path.join(master_dir, rel)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=False)
            elif os.path.lexists(path):
                os.unlink(path)

    def release_lease(self, sd_uuid: str) -> None:
        dom = self.pool.cache.produce(sd_uuid)
        try:
            self.leases.release(sd_uuid, sc.SDM_LEASE_NAME, dom.leases_path,
                                sc.SDM_LEASE_OFFSET)
        except VdsmError as e:  # not taken yet, or already gone
            log.info("SPM lease on %s not released: %s", sd_uuid, e)

    def restore_metadata(self, sd_uuid: str, values: dict[str, Any]) -> None:
        dom = self.pool.cache.produce(sd_uuid)
        md = dom.read_metadata()
        if all(md.get(k) == (None if v is None else str(v)) for k, v in values.items()):
            return  # the change never landed (the step failed): nothing to undo
        self.guard()
        dom.update_metadata(values)

    def restore_pool_master(self, sd_uuid: str) -> None:
        self.pool.master_uuid = sd_uuid
        self.pool.refresh_links()


def register(registry: RecoveryRegistry,
             current: Callable[[], MasterMigration]) -> None:
    """Name the undo steps; ``current()`` builds a MasterMigration for the
    pool of the SPM running the rollback."""
    registry.register(REMOVE_MASTER_COPY, lambda **kw: current().remove_copy(**kw))
    registry.register(RELEASE_SPM_LEASE, lambda **kw: current().release_lease(**kw))
    registry.register(RESTORE_METADATA, lambda **kw: current().restore_metadata(**kw))
    registry.register(RESTORE_POOL_MASTER,
                      lambda **kw: current().restore_pool_master(**kw))


def _copy(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dst)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []
