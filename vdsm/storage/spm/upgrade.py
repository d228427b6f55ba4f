"""upgradeStoragePool: raise the format version of the pool's domains.

Formats 3, 4 and 5 are readable here (constants.SUPPORTED_DOMAIN_VERSIONS).
An upgrade only goes up, one step at a time, master first, then each
active domain (an attached one is upgraded when the engine calls again
after activating it). What each step changes on a file domain:
  3 -> 4: VERSION (external VM leases are not kept by this agent);
  4 -> 5: VERSION, plus BLOCK_SIZE and ALIGNMENT where missing (volume
          metadata of file domains is the same in both formats).
A block domain's steps add the xleases LV (4) and move every volume's
metadata to 8 KiB slots (5); this agent converts neither, so a pool with an
older block domain is refused before anything is written. The SPM runs it
under the pool lock.
"""

from __future__ import annotations

import logging
from typing import Callable

from vdsm.storage import constants as sc
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.errors import UnsupportedDomainVersion
from vdsm.storage.spm.pool import StoragePool

log = logging.getLogger(__name__)


def check_target(target: int, current: int) -> None:
    """Raise UnsupportedDomainVersion for a format this agent cannot write
    or one below the master's (no downgrades)."""
    if target not in sc.SUPPORTED_DOMAIN_VERSIONS:
        raise UnsupportedDomainVersion(
            f"Domain version `{target}` is unsupported by this version of VDSM "
            f"(supported: {list(sc.SUPPORTED_DOMAIN_VERSIONS)})")
    if target < current:
        raise UnsupportedDomainVersion(
            f"Domain version `{target}` is older than the master's ({current}): "
            "domains are never downgraded")


def step_changes(dom: StorageDomain, md: dict[str, str], to: int) -> dict[str, str]:
    """The metadata changes raising ``dom`` one format step, to ``to``."""
    if getattr(dom, "vg", None) is not None:
        raise UnsupportedDomainVersion(
            f"Domain version `{to}` is unsupported for block domain {dom.sd_uuid} "
            "here: its special LVs and volume metadata slots would need converting")
    changes = {sc.MD_VERSION: str(to)}
    if to == 5:
        changes[sc.MD_BLOCK_SIZE] = md.get(sc.MD_BLOCK_SIZE, str(sc.BLOCK_SIZE))
        changes[sc.MD_ALIGNMENT] = md.get(sc.MD_ALIGNMENT, str(sc.ALIGNMENT))
    return changes


def upgrade_pool(pool: StoragePool, target: int, guard: Callable[[], None]
                 ) -> list[str]:
    """Upgrade the master and the active domains to ``target``; return the
    domains changed (none: already there). Raises UnsupportedDomainVersion."""
    master = pool.master
    check_target(target, master.version())
    active = [u for u, s in sorted(pool.domains().items())
              if s == sc.DOM_ACTIVE and u != pool.master_uuid]
    plans = []
    for dom in [master] + [pool.cache.produce(u) for u in active]:
        md = dom.read_metadata()
        steps = [step_changes(dom, md, v)
                 for v in range(dom.version(md) + 1, target + 1)]
        if steps:
            plans.append((dom, steps))
    for dom, steps in plans:   # refused above before this first write
        for changes in steps:
            guard()
            dom.update_metadata(changes)
        log.info("domain %s upgraded to format %s", dom.sd_uuid, target)
    return [dom.sd_uuid for dom, _ in plans]
