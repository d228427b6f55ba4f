"""reconstructMaster: rebuild a pool on a new master when its master is lost.

The engine calls it on a host that is not connected to the pool, naming a
data domain to become the master, the pool's domains with their statuses
(``{sdUUID: status}``) and a master version greater than any it knew. The
pool's metadata lived only on the lost master, so it is written anew:

  1. refuse a bad request before writing: the master in the list, an
     existing data domain not claimed by another pool, statuses known,
     and no reachable domain of this pool already at this master version
     or a higher one (StoragePoolHigherVersionMasterFound);
  2. take the host id and the SPM lease on the new master (no live SPM can
     be using it: DomainAlreadyLocked otherwise);
  3. lay out ``master/{tasks,vms}``; task records found there are stale
     (left when the domain was master in an older epoch; the pool's live
     records were on the lost master), so they are removed: rolling them
     back now could undo later work;
  4. write the pool keys and ROLE=Master on the new master;
  5. every other listed domain that is reachable names the pool, and one
     that still says it is this pool's master (the old master, when it
     comes back) becomes a regular domain;
  6. release the SPM lease (the engine then connects and starts the SPM).

A domain that cannot be read in step 5 is logged and left alone: the lost
master is the usual one.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.monitor import DomainMonitor
from vdsm.storage.errors import (
    BackupCannotBeMasterDomain,
    InvalidParameterException,
    IsoCannotBeMasterDomain,
    ReconstructMasterError,
    StorageDomainStatusError,
    StoragePoolHigherVersionMasterFound,
)
from vdsm.storage.leases.manager import LeaseManager
from vdsm.storage.spm.master_migration import LEASE_KEYS, POOL_KEYS
from vdsm.storage.spm.pool import format_domains

log = logging.getLogger(__name__)

# The statuses the engine sends; "Inactive" is its old name of Attached.
STATUSES = {"active": sc.DOM_ACTIVE, "attached": sc.DOM_ATTACHED,
            "inactive": sc.DOM_ATTACHED}


@dataclass(frozen=True)
class Request:
    sp_uuid: str
    host_id: int
    name: str
    master_uuid: str
    domains: dict[str, str]
    master_version: int
    lease_params: dict[str, Any]


def normalize_statuses(domains: dict[str, str], master_uuid: str) -> dict[str, str]:
    """The engine's ``{sdUUID: status}`` in metadata spelling, the master
    Active. Raises InvalidParameterException (master not listed),
    StorageDomainStatusError (a status it cannot be)."""
    if master_uuid not in domains:
        raise InvalidParameterException(
            f"Invalid parameter: masterDom {master_uuid} is not in domDict",
            name="masterDom", value=master_uuid)
    result = {}
    for sd_uuid, status in domains.items():
        known = STATUSES.get(str(status).lower())
        if known is None:
            raise StorageDomainStatusError(
                f"Unsupported Storage Domain status {status!r} of {sd_uuid}")
        result[sd_uuid] = known
    result[master_uuid] = sc.DOM_ACTIVE
    return result


class Reconstruction:
    """One reconstruction; not thread-safe (the caller serializes)."""

    def __init__(self, cache: DomainCache, monitor: DomainMonitor,
                 leases: LeaseManager, *, host_id_timeout: float) -> None:
        self.cache = cache
        self.monitor = monitor
        self.leases = leases
        self.host_id_timeout = host_id_timeout

    def run(self, req: Request) -> None:
        """Raises the validation errors above, StorageDomainDoesNotExist
        (the new master), DomainAlreadyLocked (its SPM lease is held) and
        ReconstructMasterError (the host id or a write failed)."""
        domains = normalize_statuses(req.domains, req.master_uuid)
        master = self.cache.produce(req.master_uuid)
        self._validate(req, master)
        started = req.master_uuid not in self.monitor.monitored()
        self.monitor.start_monitoring(req.master_uuid, req.host_id)
        done = False
        try:
            if not self.monitor.wait_for_host_id(req.master_uuid, self.host_id_timeout):
                raise ReconstructMasterError(
                    f"Host id {req.host_id} not acquired on {req.master_uuid} "
                    f"within {self.host_id_timeout:g}s")
            lease = self.leases.acquire(req.master_uuid, sc.SDM_LEASE_NAME,
                                        master.leases_path, sc.SDM_LEASE_OFFSET)
            try:
                self._write(req, master, domains, lease.version)
            finally:
                self.leases.release(req.master_uuid, sc.SDM_LEASE_NAME,
                                    master.leases_path, sc.SDM_LEASE_OFFSET)
            done = True
        except OSError as e:
            raise ReconstructMasterError(
                f"Cannot reconstruct master of pool {req.sp_uuid} on "
                f"{req.master_uuid}: {e}") from e
        finally:
            if started:  # connectStoragePool monitors it again, keeping the id
                self.monitor.stop_monitoring([req.master_uuid],
                                             release_host_id=not done)
        log.info("pool %s reconstructed on master %s (version %s, domains %s)",
                 req.sp_uuid, req.master_uuid, req.master_version,
                 format_domains(domains))

    def _validate(self, req: Request, master: StorageDomain) -> None:
        md = master.read_metadata()
        dom_class = master.dom_class(md)
        if dom_class == sc.ISO_DOMAIN:
            raise IsoCannotBeMasterDomain(f"{req.master_uuid} is an ISO domain")
        if dom_class == sc.BACKUP_DOMAIN:
            raise BackupCannotBeMasterDomain(f"{req.master_uuid} is a backup domain")
        others = [p for p in master.pools(md) if p != req.sp_uuid]
        if others:
            raise ReconstructMasterError(
                f"Domain {req.master_uuid} belongs to another pool {others}")
        for sd_uuid in req.domains:
            found = self._claimed_version(sd_uuid, req.sp_uuid)
            if found is not None and found >= req.master_version:
                raise StoragePoolHigherVersionMasterFound(
                    f"Found master domain {sd_uuid} of pool {req.sp_uuid} at "
                    f"version {found}; the new version {req.master_version} "
                    f"must be greater")

    def _claimed_version(self, sd_uuid: str, sp_uuid: str) -> int | None:
        """The master version a reachable domain holds as master of the pool."""
        md = self._read(sd_uuid)
        if md is None or md.get(sc.MD_ROLE) != sc.MASTER_DOMAIN or \
                sp_uuid not in md.get(sc.MD_POOLS, "").split(","):
            return None
        return int(md.get(sc.PMD_MASTER_VERSION, 0))

    def _read(self, sd_uuid: str) -> dict[str, str] | None:
        try:
            return self.cache.produce(sd_uuid).read_metadata()
        except (VdsmError, OSError) as e:
            log.warning("reconstruct: domain %s unreadable: %s", sd_uuid, e)
            return None

    def _write(self, req: Request, master: StorageDomain, domains: dict[str, str],
               lver: int) -> None:
        master.create_master_dir()
        _drop_stale_tasks(os.path.join(master.master_dir, sc.TASKS_DIR))
        changes: dict[str, Any] = {
            sc.MD_ROLE: sc.MASTER_DOMAIN, sc.MD_POOLS: req.sp_uuid,
            sc.PMD_DESCRIPTION: req.name, sc.PMD_DOMAINS: format_domains(domains),
            sc.PMD_SPM_ID: -1, sc.PMD_SPM_LVER: lver,
            sc.PMD_MASTER_VERSION: req.master_version}
        changes.update({k: v for k, v in req.lease_params.items()
                        if k in LEASE_KEYS + (sc.MD_IO_TIMEOUT,) and v})
        master.update_metadata(changes)
        for sd_uuid in domains:
            if sd_uuid != req.master_uuid:
                self._make_member(sd_uuid, req.sp_uuid)

    def _make_member(self, sd_uuid: str, sp_uuid: str) -> None:
        md = self._read(sd_uuid)
        if md is None:
            return
        changes: dict[str, Any] = {}
        if md.get(sc.MD_POOLS) != sp_uuid:
            changes[sc.MD_POOLS] = sp_uuid
        if md.get(sc.MD_ROLE) == sc.MASTER_DOMAIN:
            changes.update({sc.MD_ROLE: sc.REGULAR_DOMAIN,
                            **{k: None for k in POOL_KEYS}})
            log.info("reconstruct: former master %s of pool %s is regular now",
                     sd_uuid, sp_uuid)
        if changes:
            try:
                self.cache.produce(sd_uuid).update_metadata(changes)
            except (VdsmError, OSError) as e:
                log.error("reconstruct: cannot update domain %s: %s", sd_uuid, e)


def _drop_stale_tasks(tasks_dir: str) -> None:
    try:
        names = sorted(os.listdir(tasks_dir))
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(tasks_dir, name)
        log.warning("reconstruct: removing stale task record %s", path)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
