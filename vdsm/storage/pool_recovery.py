"""Pool recovery verbs, wired to the storage service: reconstructMaster,
upgradeStoragePool, forcedDetachStorageDomain and fenceSpmStorage.

The logic lives in vdsm/storage/spm/{reconstruct,upgrade,forced_detach,
fence}.py; this module decides which host state each one needs (no pool
connected, the SPM, any connected host) and runs SPM work as pool tasks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.errors import SpmStatusError, StoragePoolConnected
from vdsm.storage.spm import fence, forced_detach, reconstruct, upgrade
from vdsm.storage.spm.role import SPM
from vdsm.storage.volumes import domain_lock

if TYPE_CHECKING:
    from vdsm.storage.service import StorageService

log = logging.getLogger(__name__)


class PoolRecovery:
    def __init__(self, service: StorageService) -> None:
        self._svc = service

    @property
    def _host_id_timeout(self) -> float:
        return float(self._svc.ctx.setting("host_id_timeout"))

    def reconstruct_master(self, req: reconstruct.Request) -> None:
        """On a host not connected to any pool (StoragePoolConnected)."""
        svc = self._svc
        with svc._lock:
            if svc.pool is not None:
                raise StoragePoolConnected(
                    f"Cannot perform action while storage pool {svc.pool.sp_uuid} "
                    "is connected")
            with svc.resources.acquire([rm.Request(sc.STORAGE_NAMESPACE, req.sp_uuid,
                                                   rm.EXCLUSIVE)]):
                reconstruct.Reconstruction(
                    svc.cache, svc.monitor, svc.ctx.leases,
                    host_id_timeout=self._host_id_timeout).run(req)

    def upgrade_pool(self, sp_uuid: str, target: int) -> dict[str, Any]:
        """On the SPM, as a pool task under the pool's lock."""
        spm = self._svc._spm(sp_uuid)

        def job(ctx: Any) -> list[str]:
            with self._svc.resources.acquire([rm.Request(
                    sc.STORAGE_NAMESPACE, sp_uuid, rm.EXCLUSIVE)]):
                return upgrade.upgrade_pool(spm.pool, target, spm.guard)
        changed = self._svc.spm_sync(sp_uuid, "upgradeStoragePool", job)
        log.info("pool %s at format %s (changed: %s)", sp_uuid, target, changed)
        return {"upgradeStatus": "started"}

    def forced_detach(self, sd_uuid: str, sp_uuid: str | None) -> None:
        """The connected pool's SPM removes it from the pool; a host without
        that pool frees the domain by its own lease."""
        svc = self._svc
        pool = svc.pool
        if pool is not None and sp_uuid is None and sd_uuid in pool.domains():
            sp_uuid = pool.sp_uuid   # "whatever pool": the connected one
        if pool is not None and sp_uuid == pool.sp_uuid:
            spm = svc._spm(sp_uuid)

            def job(ctx: Any) -> None:
                with svc.resources.acquire([
                        rm.Request(sc.STORAGE_NAMESPACE, sp_uuid, rm.EXCLUSIVE),
                        domain_lock(sd_uuid, rm.EXCLUSIVE)]):
                    forced_detach.detach_from_pool(spm.pool, sd_uuid, spm.guard)
            svc.spm_sync(sp_uuid, "forcedDetachStorageDomain", job)
            return
        host_id = pool.host_id if pool is not None else None
        with svc.resources.acquire([domain_lock(sd_uuid, rm.EXCLUSIVE)]):
            forced_detach.OrphanDetach(
                svc.cache, svc.monitor, svc.ctx.leases,
                host_id_timeout=self._host_id_timeout).run(sd_uuid, sp_uuid, host_id)

    def fence_spm(self, sp_uuid: str, last_owner: int, last_lver: int
                  ) -> dict[str, Any]:
        """On a connected host that is not the SPM (the SPM answers its
        own status: there is nothing to fence)."""
        svc = self._svc
        pool = svc._pool(sp_uuid)
        spm = svc.spm
        if spm is None:
            raise SpmStatusError("Not connected to a pool")
        if spm.role == SPM:
            return spm.status()
        with svc.resources.acquire([rm.Request(sc.STORAGE_NAMESPACE, sp_uuid,
                                               rm.EXCLUSIVE)]):
            return fence.fence_spm(pool, svc.ctx.leases, last_owner=last_owner,
                                   last_lver=last_lver,
                                   host_id_timeout=self._host_id_timeout)
