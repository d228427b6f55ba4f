"""fenceSpmStorage: free the SPM role of a host that does not answer.

The engine calls it on a connected host after the SPM (``lastOwner`` at
lease version ``lastLver``) stopped answering. The SPM lease decides, not
the engine's belief: this host takes the SPM lease on the master, which
sanlock grants only when its holder is gone (its process died, or its host
id expired); a live holder keeps it (DomainAlreadyLocked, nothing written).
With the lease in hand the pool's metadata is marked free (POOL_SPM_ID -1,
POOL_SPM_LVER the new version) and the lease is released, so that the next
spmStart (this host's or another's) wins the election. The answer is the
classic ``spm_st``.
"""

from __future__ import annotations

import logging
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.errors import SpmParamsMismatch, SpmStartError
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.spm.pool import StoragePool
from vdsm.storage.spm.role import FREE

log = logging.getLogger(__name__)


def fence_spm(pool: StoragePool, leases: LeaseManager, *, last_owner: int,
              last_lver: int, host_id_timeout: float) -> dict[str, Any]:
    """Free the SPM lease of ``last_owner``; return spm_st. Raises
    SpmParamsMismatch (the pool's SPM is not the one named: someone else
    was elected since), SpmStartError (no host id on the master),
    DomainAlreadyLocked (the holder is alive)."""
    md = pool.metadata()
    spm_id = int(md.get(sc.PMD_SPM_ID, -1))
    lver = int(md.get(sc.PMD_SPM_LVER, -1))
    if spm_id == -1 and last_owner == -1:
        return {"spmStatus": FREE, "spmId": -1, "spmLver": lver}
    if (spm_id, lver) != (last_owner, last_lver):
        raise SpmParamsMismatch(
            f"Pool previous lver/id don't match request: pool {pool.sp_uuid} "
            f"has SPM {spm_id} at lver {lver}, asked to fence {last_owner} at "
            f"lver {last_lver}")
    if not pool.monitor.wait_for_host_id(pool.master_uuid, host_id_timeout):
        raise SpmStartError(f"Host id {pool.host_id} not acquired on master "
                            f"{pool.master_uuid} within {host_id_timeout:g}s")
    master = pool.master
    lease = leases.acquire(pool.master_uuid, sc.SDM_LEASE_NAME, master.leases_path,
                           sc.SDM_LEASE_OFFSET)
    try:
        master.update_metadata({sc.PMD_SPM_ID: -1, sc.PMD_SPM_LVER: lease.version})
    finally:
        leases.release(pool.master_uuid, sc.SDM_LEASE_NAME, master.leases_path,
                       sc.SDM_LEASE_OFFSET)
    log.warning("pool %s: SPM host %s (lver %s) fenced by host %s; lease at %s",
                pool.sp_uuid, last_owner, last_lver, pool.host_id, lease.version)
    return {"spmStatus": FREE, "spmId": -1, "spmLver": lease.version}
