"""Pool-changing jobs of the SPM: attach, detach, activate, deactivate.

Each holds the pool's exclusive lock and the domain's exclusive lock.
The order of the two writes keeps a crash in between harmless: attach
names the pool in the domain before listing the domain in the pool (an
attach repeated after a crash finds the domain already claimed by this
pool and goes on); detach does the reverse.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.errors import (
    CannotDetachMasterStorageDomain,
    StorageDomainActivateError,
    StorageDomainAttachError,
    StorageDomainDeactivateError,
    StorageDomainDetachError,
)
from vdsm.storage.spm import master_migration
from vdsm.storage.spm.pool import StoragePool, format_domains
from vdsm.tasks.context import TaskContext

log = logging.getLogger(__name__)


class PoolOperations:
    def __init__(self, pool: StoragePool, resources: rm.ResourceManager,
                 guard: Callable[[], None]) -> None:
        self.pool = pool
        self.resources = resources
        self.guard = guard

    def _locks(self, sd_uuid: str) -> list[rm.Request]:
        return [rm.Request(sc.STORAGE_NAMESPACE, self.pool.sp_uuid, rm.EXCLUSIVE),
                rm.Request(sc.STORAGE_NAMESPACE, sd_uuid, rm.EXCLUSIVE)]

    def _set_status(self, sd_uuid: str, status: str | None) -> None:
        domains = self.pool.domains()
        if status is None:
            domains.pop(sd_uuid, None)
        else:
            domains[sd_uuid] = status
        self.guard()
        self.pool.master.update_metadata({sc.PMD_DOMAINS: format_domains(domains)})

    def attach(self, sd_uuid: str) -> None:
        sp_uuid = self.pool.sp_uuid
        with self.resources.acquire(self._locks(sd_uuid)):
            dom = self.pool.cache.produce(sd_uuid)
            md = dom.read_metadata()
            pools = dom.pools(md)
            if pools and pools != [sp_uuid]:
                raise StorageDomainAttachError(
                    f"Domain {sd_uuid} is attached to pool {pools}")
            if sd_uuid in self.pool.domains():
                raise StorageDomainAttachError(
                    f"Domain {sd_uuid} is already in pool {sp_uuid}")
            self.guard()
            dom.update_metadata({sc.MD_POOLS: sp_uuid, sc.MD_ROLE: sc.REGULAR_DOMAIN})
            self._set_status(sd_uuid, sc.DOM_ATTACHED)
            self.pool.refresh_links()
        log.info("attached domain %s to pool %s", sd_uuid, sp_uuid)

    def detach(self, sd_uuid: str) -> None:
        with self.resources.acquire(self._locks(sd_uuid)):
            if sd_uuid == self.pool.master_uuid:
                raise CannotDetachMasterStorageDomain(
                    f"Cannot detach the master domain {sd_uuid}")
            status = self.pool.domains().get(sd_uuid)
            if status is None:
                raise StorageDomainDetachError(
                    f"Domain {sd_uuid} is not in pool {self.pool.sp_uuid}")
            if status == sc.DOM_ACTIVE:
                raise StorageDomainDetachError(
                    f"Domain {sd_uuid} is active; deactivate it first")
            self._set_status(sd_uuid, None)
            self.guard()
            self.pool.cache.produce(sd_uuid).update_metadata({sc.MD_POOLS: ""})
            self.pool.refresh_links()
        log.info("detached domain %s from pool %s", sd_uuid, self.pool.sp_uuid)

    def activate(self, sd_uuid: str) -> None:
        with self.resources.acquire(self._locks(sd_uuid)):
            status = self.pool.domains().get(sd_uuid)
            if status is None:
                raise StorageDomainActivateError(
                    f"Domain {sd_uuid} is not in pool {self.pool.sp_uuid}")
            self.pool.cache.produce(sd_uuid).read_metadata()  # reachable?
            if status != sc.DOM_ACTIVE:
                self._set_status(sd_uuid, sc.DOM_ACTIVE)
            self.pool.refresh_links()
            self.pool.monitor.start_monitoring(sd_uuid, self.pool.host_id, pool=True)
        log.info("activated domain %s in pool %s", sd_uuid, self.pool.sp_uuid)

    def deactivate(self, sd_uuid: str) -> None:
        with self.resources.acquire(self._locks(sd_uuid)):
            if sd_uuid == self.pool.master_uuid:
                raise StorageDomainDeactivateError(
                    "Deactivating the master domain needs a new master "
                    "(master migration is not supported)")
            status = self.pool.domains().get(sd_uuid)
            if status is None:
                raise StorageDomainDeactivateError(
                    f"Domain {sd_uuid} is not in pool {self.pool.sp_uuid}")
            if status == sc.DOM_ACTIVE:
                self._set_status(sd_uuid, sc.DOM_ATTACHED)
            self.pool.monitor.stop_monitoring([sd_uuid])
        log.info("deactivated domain %s in pool %s", sd_uuid, self.pool.sp_uuid)

    def migrate_master(self, ctx: TaskContext,
                       migration: master_migration.MasterMigration,
                       sd_uuid: str, new_uuid: str, master_version: int) -> int:
        """Deactivate the master ``sd_uuid``, making ``new_uuid`` the master at
        ``master_version``; return the new SPM lease version."""
        with self.resources.acquire(self._locks(sd_uuid) + [
                rm.Request(sc.STORAGE_NAMESPACE, new_uuid, rm.EXCLUSIVE)]):
            if sd_uuid != self.pool.master_uuid:
                raise StorageDomainDeactivateError(
                    f"Domain {sd_uuid} is no longer the master of {self.pool.sp_uuid}")
            master_migration.validate(self.pool, sd_uuid, new_uuid, master_version)
            lver = migration.run(ctx, sd_uuid, new_uuid, master_version)
            # now a regular member: deactivate it as such
            self._set_status(sd_uuid, sc.DOM_ATTACHED)
            self.pool.monitor.stop_monitoring([sd_uuid])
        log.info("deactivated former master %s in pool %s", sd_uuid, self.pool.sp_uuid)
        return lver

    def set_description(self, description: str) -> None:
        with self.resources.acquire([rm.Request(sc.STORAGE_NAMESPACE,
                                                self.pool.sp_uuid, rm.EXCLUSIVE)]):
            self.guard()
            self.pool.master.update_metadata({sc.PMD_DESCRIPTION: description})

    def destroy(self) -> None:
        """Dissolve the pool: every domain unattached, the master regular."""
        with self.resources.acquire([rm.Request(sc.STORAGE_NAMESPACE,
                                                self.pool.sp_uuid, rm.EXCLUSIVE)]):
            for sd_uuid in self.pool.domains():
                if sd_uuid == self.pool.master_uuid:
                    continue
                self.guard()
                self.pool.cache.produce(sd_uuid).update_metadata({sc.MD_POOLS: ""})
            self.guard()
            self.pool.master.update_metadata({
                sc.MD_ROLE: sc.REGULAR_DOMAIN, sc.MD_POOLS: "",
                sc.PMD_DESCRIPTION: None, sc.PMD_DOMAINS: None, sc.PMD_SPM_ID: None,
                sc.PMD_SPM_LVER: None, sc.PMD_MASTER_VERSION: None})
        log.info("destroyed pool %s", self.pool.sp_uuid)
