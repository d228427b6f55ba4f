"""The OVF verbs of a pool (updateVM, removeVM, getVmsList, getVmsInfo).

The store lives on the master domain unless the engine names an active
domain of the pool (classic: an export domain, or the domain whose images
the VM uses). Writes are SPM-only (``Not SPM``, 654, elsewhere) and run
under an exclusive ``vms_<sdUUID>`` lock; reads run on any connected host.
"""

from __future__ import annotations

from typing import Any, Callable

from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.errors import StorageDomainNotActive
from vdsm.storage.ovf_store import OvfStore
from vdsm.storage.spm.pool import StoragePool
from vdsm.storage.spm.role import Spm

VMS_NAMESPACE = "vms"


def vms_lock(sd_uuid: str, mode: str = rm.EXCLUSIVE) -> rm.Request:
    return rm.Request(VMS_NAMESPACE, sd_uuid, mode)


class PoolOvf:
    def __init__(self, resources: rm.ResourceManager, *,
                 pool: Callable[[str], StoragePool],
                 spm: Callable[[str], Spm]) -> None:
        """``pool(sp)`` answers the connected pool (StoragePoolUnknown),
        ``spm(sp)`` its SPM role when this host holds it (SpmStatusError)."""
        self.resources = resources
        self._pool = pool
        self._spm = spm

    def _store(self, pool: StoragePool, sd_uuid: str | None) -> tuple[str, OvfStore]:
        """The store of ``sd_uuid`` (the master when blank). Raises
        StorageDomainNotActive for a domain that is not an active member."""
        if sd_uuid in (None, "", sc.BLANK_UUID):
            sd_uuid = pool.master_uuid
        elif pool.domains().get(sd_uuid) != sc.DOM_ACTIVE:
            raise StorageDomainNotActive(
                f"Storage domain not active: {sd_uuid} in pool {pool.sp_uuid}")
        dom = pool.cache.produce(sd_uuid)
        return sd_uuid, OvfStore(dom.ops, dom.master_dir)

    def update(self, sp_uuid: str, vm_list: list[dict[str, Any]],
               sd_uuid: str | None = None) -> None:
        spm = self._spm(sp_uuid)
        sd_uuid, store = self._store(spm.pool, sd_uuid)
        with self.resources.acquire([vms_lock(sd_uuid)]):
            spm.guard()
            store.update(vm_list)

    def remove(self, sp_uuid: str, vm_uuid: str, sd_uuid: str | None = None) -> None:
        spm = self._spm(sp_uuid)
        sd_uuid, store = self._store(spm.pool, sd_uuid)
        with self.resources.acquire([vms_lock(sd_uuid)]):
            spm.guard()
            store.remove(vm_uuid)

    def list(self, sp_uuid: str, sd_uuid: str | None = None) -> list[str]:
        sd_uuid, store = self._store(self._pool(sp_uuid), sd_uuid)
        with self.resources.acquire([vms_lock(sd_uuid, rm.SHARED)]):
            return store.list()

    def info(self, sp_uuid: str, sd_uuid: str | None = None,
             vm_uuids: list[str] | None = None) -> dict[str, str]:
        sd_uuid, store = self._store(self._pool(sp_uuid), sd_uuid)
        with self.resources.acquire([vms_lock(sd_uuid, rm.SHARED)]):
            return store.read(vm_uuids)
