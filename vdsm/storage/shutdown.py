"""Storage's part of prepareForShutdown: give every lease back.

In order: stop being SPM (releases the SPM lease, stops pool tasks),
disconnect the pool (stops the mailbox and the pool's domain monitors),
stop every other domain monitor releasing its host id (the lockspace).
Called by StorageService with its lock held.
"""

from __future__ import annotations

import logging
from typing import Any

from vdsm.storage.spm import role

log = logging.getLogger(__name__)


def prepare(service: Any) -> dict[str, Any]:
    """Returns what was done: spmStopped, poolDisconnected (its UUID or
    None) and domainsReleased (the monitored domains' UUIDs)."""
    done: dict[str, Any] = {"spmStopped": False, "poolDisconnected": None,
                            "domainsReleased": sorted(service.monitor.monitored())}
    if service.spm is not None and service.spm.role == role.SPM:
        service.spm.stop()
        done["spmStopped"] = True
    if service.pool is not None:
        service.pool.disconnect()
        done["poolDisconnected"] = service.pool.sp_uuid
        service.pool = service.spm = None
    service.monitor.shutdown()
    log.info("storage prepared for shutdown: %s", done)
    return done
