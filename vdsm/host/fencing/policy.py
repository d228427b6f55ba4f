"""Fencing policy: do not power off a host that still renews its leases.

The classic policy is ``{"storageDomainHostIdMap": {sdUUID: hostId}}``:
if the target's host id is live (its delta lease keeps being renewed) on
any listed domain, the host is up as far as storage is concerned (it may
only have lost the engine's network), and fencing it would kill running
VMs for nothing. ``status`` is never refused. The gluster keys of the
classic policy are not supported here and are logged as ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)

HOST_ID_MAP = "storageDomainHostIdMap"
LIVE = "live"
_IGNORED = ("skipFencingIfGlusterBricksUp", "skipFencingIfGlusterQuorumNotMet")

# {sdUUID: hostId} -> {sdUUID: "live" | "fail" | "dead" | "free" | "unknown"}
LeaseStatus = Callable[[Mapping[str, int]], dict[str, str]]


@dataclass(frozen=True)
class Decision:
    fence: bool
    reason: str


def decide(policy: Mapping[str, Any] | None,
           lease_status: LeaseStatus | None) -> Decision:
    """Whether a power action may run under ``policy``.

    When the lease status cannot be read (no storage on this host, or an
    error) fencing goes on, as the classic agent did: the engine asked for
    it, and a policy that cannot be checked must not keep a sick host up.
    """
    if not policy:
        return Decision(True, "no fencing policy")
    for key in _IGNORED:
        if policy.get(key):
            log.warning("fencing policy %s is not supported here; ignored", key)
    id_map = policy.get(HOST_ID_MAP)
    if not id_map:
        return Decision(True, f"no {HOST_ID_MAP} in the policy")
    try:
        host_ids = {str(sd): int(hid) for sd, hid in dict(id_map).items()}
    except (TypeError, ValueError):
        log.warning("malformed %s in fencing policy; fencing", HOST_ID_MAP)
        return Decision(True, f"malformed {HOST_ID_MAP}")
    if lease_status is None:
        log.warning("no storage on this host: cannot check host leases; fencing")
        return Decision(True, "host leases cannot be checked here")
    try:
        statuses = lease_status(host_ids)
    except Exception:
        log.exception("cannot read host lease status; fencing")
        return Decision(True, "host lease status unreadable")
    for sd_uuid, status in sorted(statuses.items()):
        if status == LIVE:
            return Decision(False, f"host id {host_ids[sd_uuid]} is live on "
                                   f"domain {sd_uuid}")
    return Decision(True, "no live host lease: " + ", ".join(
        f"{sd}={st}" for sd, st in sorted(statuses.items())))
