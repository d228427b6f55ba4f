"""Other hosts' storage leases, as this host's lease manager sees them.

What the fencing policy asks (the classic getHostLeaseStatus): is host id
N still renewing its delta lease on domain D? Only a domain whose lockspace
this host has joined can answer; any other answers "unknown".
"""

from __future__ import annotations

import logging
from typing import Mapping

from vdsm.common.errors import VdsmError
from vdsm.storage.leases.manager import HOST_UNKNOWN, LeaseManager

log = logging.getLogger(__name__)


class HostLeases:
    """Thread-safe if the lease manager is."""

    def __init__(self, leases: LeaseManager) -> None:
        self._leases = leases

    def status(self, host_ids: Mapping[str, int]) -> dict[str, str]:
        """{sdUUID: hostId} -> {sdUUID: live|fail|dead|free|unknown}."""
        result = {}
        for sd_uuid, host_id in host_ids.items():
            try:
                result[sd_uuid] = self._leases.host_status(sd_uuid, host_id)
            except VdsmError as e:
                log.warning("host id %s on %s: %s", host_id, sd_uuid, e)
                result[sd_uuid] = HOST_UNKNOWN
        log.debug("host lease status %s -> %s", dict(host_ids), result)
        return result
