"""The SPM's verbs growing a block domain: extendStorageDomain (new LUNs
in its VG) and resizePV (a LUN grown under it), each a pool task under
the domain's lock. The LVM work itself is
:mod:`vdsm.storage.domains.block.growth`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdsm.storage.domains.block import growth
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.errors import StorageDomainNotInPool, StorageDomainTypeError
from vdsm.storage.spm.role import Spm
from vdsm.storage.volumes import domain_lock

if TYPE_CHECKING:
    from vdsm.storage.service import StorageService


class BlockGrowth:
    def __init__(self, svc: StorageService) -> None:
        self._svc = svc

    def block_vg(self, sd_uuid: str) -> VGAccess:
        """The VG of a block domain. Raises StorageDomainDoesNotExist,
        StorageDomainTypeError (a file domain)."""
        vg = getattr(self._svc.cache.produce(sd_uuid), "vg", None)
        if not isinstance(vg, VGAccess):
            raise StorageDomainTypeError(f"Storage domain {sd_uuid} is not a block "
                                         "domain")
        return vg

    def _pool_block_vg(self, sp_uuid: str, sd_uuid: str) -> tuple[Spm, VGAccess]:
        spm = self._svc._spm(sp_uuid)
        if sd_uuid not in spm.pool.domains():
            raise StorageDomainNotInPool(f"Storage domain {sd_uuid} not in pool "
                                         f"{sp_uuid}")
        return spm, self.block_vg(sd_uuid)

    def extend_storage_domain(self, sp_uuid: str, sd_uuid: str, guids: list[str],
                              force: bool = False) -> None:
        """extendStorageDomain (SPM): add LUNs to a block domain."""
        spm, vg = self._pool_block_vg(sp_uuid, sd_uuid)

        def job(ctx: Any) -> None:
            with self._svc.resources.acquire([domain_lock(sd_uuid)]):
                growth.extend_domain(vg, self._svc.blocks, guids, force=force,
                                     guard=spm.guard)
        self._svc.spm_sync(sp_uuid, "extendStorageDomain", job)

    def resize_pv(self, sp_uuid: str, sd_uuid: str, guid: str) -> int:
        """resizePV (SPM): the PV's size in bytes after growing it."""
        spm, vg = self._pool_block_vg(sp_uuid, sd_uuid)

        def job(ctx: Any) -> int:
            with self._svc.resources.acquire([domain_lock(sd_uuid)]):
                return growth.resize_pv(vg, self._svc.blocks, guid, guard=spm.guard)
        return self._svc.spm_sync(sp_uuid, "resizePV", job)

