"""forcedDetachStorageDomain: free a domain from a pool that is gone.

Two cases, as classic:
  * the pool is connected here and this host is its SPM: the domain
    (never the master) leaves the pool's domain map whatever its status,
    is no longer monitored, and no longer names the pool (if reachable);
  * the pool is not connected here (destroyed, or its master lost): no
    SPM can be asked, so this host takes the domain's own SPM lease (which
    a live SPM using the domain as its master would hold) with a host id
    in the domain's lockspace (the connected pool's id, else the reserved
    one), makes the domain regular and unattached, and releases both.
Afterwards the domain attaches to any pool.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.monitor import DomainMonitor
from vdsm.storage.errors import (
    AcquireHostIdFailure,
    CannotDetachMasterStorageDomain,
    StorageDomainNotInPool,
)
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.spm.master_migration import POOL_KEYS
from vdsm.storage.spm.pool import StoragePool, format_domains

log = logging.getLogger(__name__)

# The host id used in a domain's lockspace by a host in no pool (classic).
RESERVED_HOST_ID = 250


def detach_from_pool(pool: StoragePool, sd_uuid: str, guard: Callable[[], None]
                     ) -> None:
    """The SPM's forced detach (run under the pool's and domain's locks).
    Raises CannotDetachMasterStorageDomain."""
    if sd_uuid == pool.master_uuid:
        raise CannotDetachMasterStorageDomain(
            f"Cannot detach the master domain {sd_uuid}")
    domains = pool.domains()
    if domains.pop(sd_uuid, None) is not None:
        guard()
        pool.master.update_metadata({sc.PMD_DOMAINS: format_domains(domains)})
    pool.monitor.stop_monitoring([sd_uuid])
    try:
        dom = pool.cache.produce(sd_uuid)
        if pool.sp_uuid in dom.pools():
            guard()
            dom.update_metadata({sc.MD_POOLS: ""})
    except (VdsmError, OSError) as e:  # unreachable: the map no longer has it
        log.warning("forced detach: domain %s not updated: %s", sd_uuid, e)
    pool.refresh_links()
    log.warning("force detached domain %s from pool %s", sd_uuid, pool.sp_uuid)


class OrphanDetach:
    """Forced detach of a domain whose pool is not connected here."""

    def __init__(self, cache: DomainCache, monitor: DomainMonitor,
                 leases: LeaseManager, *, host_id_timeout: float) -> None:
        self.cache = cache
        self.monitor = monitor
        self.leases = leases
        self.host_id_timeout = host_id_timeout

    def run(self, sd_uuid: str, sp_uuid: str | None, host_id: int | None) -> None:
        """``sp_uuid`` None: detach from whatever pool it names. Raises
        StorageDomainDoesNotExist, StorageDomainNotInPool, AcquireHostIdFailure,
        DomainAlreadyLocked (a live SPM holds the domain's lease)."""
        dom = self.cache.produce(sd_uuid)
        pools = dom.pools()
        if sp_uuid is not None and sp_uuid not in pools:
            raise StorageDomainNotInPool(
                f"Storage domain {sd_uuid} not in pool {sp_uuid} (its pools: {pools})")
        if not pools:
            return
        started = sd_uuid not in self.monitor.monitored()
        if started:
            self.monitor.start_monitoring(sd_uuid, host_id or RESERVED_HOST_ID)
        try:
            if not self.monitor.wait_for_host_id(sd_uuid, self.host_id_timeout):
                raise AcquireHostIdFailure(
                    f"No host id in the lockspace of {sd_uuid} within "
                    f"{self.host_id_timeout:g}s")
            self.leases.acquire(sd_uuid, sc.SDM_LEASE_NAME, dom.leases_path,
                                sc.SDM_LEASE_OFFSET)
            try:
                dom.update_metadata({sc.MD_POOLS: "", sc.MD_ROLE: sc.REGULAR_DOMAIN,
                                     **{k: None for k in POOL_KEYS}})
            finally:
                self.leases.release(sd_uuid, sc.SDM_LEASE_NAME, dom.leases_path,
                                    sc.SDM_LEASE_OFFSET)
        finally:
            if started:
                self.monitor.stop_monitoring([sd_uuid])
        log.warning("force detached domain %s from pool(s) %s", sd_uuid, pools)
