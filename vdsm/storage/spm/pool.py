"""The storage pool: domains bound together by the master domain's metadata.

The master domain's metadata holds the pool keys (POOL_DESCRIPTION,
POOL_DOMAINS ``sd:Status,...``, POOL_SPM_ID, POOL_SPM_LVER,
MASTER_VERSION); each member domain names the pool in POOL_UUID. A host
connected to the pool sees ``<repository>/<spUUID>/<sdUUID>`` links to
its domains (and ``mastersd``) and monitors the active ones with its host
id. Changing the pool's metadata is the SPM's job (see :mod:`.pool_operations`).
A connected host also runs its side of the pool mailbox on the master
(:mod:`.mailbox`, made by an injected factory), moved with the master.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from vdsm.storage import constants as sc
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import Metadata, StorageDomain
from vdsm.storage.domains.monitor import DomainMonitor
from vdsm.storage.errors import (
    BackupCannotBeMasterDomain,
    IsoCannotBeMasterDomain,
    StorageDomainMasterError,
    StoragePoolCreationError,
    StoragePoolDescriptionTooLongError,
)
from vdsm.storage.faults import NO_PAUSE, PausePoints
from vdsm.storage.spm.mailbox import HostMailbox

log = logging.getLogger(__name__)

# This host's side of the pool mailbox on a master domain (not started yet),
# or None where the master needs none (file masters: no LV to extend).
HostMailboxFactory = Callable[[StorageDomain, int], "HostMailbox | None"]

MAX_POOL_DESCRIPTION = 50


def parse_domains(text: str) -> dict[str, str]:
    """``"sd1:Active,sd2:Attached"`` -> {sd1: Active, sd2: Attached}."""
    result = {}
    for item in text.split(","):
        if item.strip():
            sd_uuid, _, status = item.strip().partition(":")
            result[sd_uuid] = status or sc.DOM_ATTACHED
    return result


def format_domains(domains: dict[str, str]) -> str:
    return ",".join(f"{u}:{s}" for u, s in sorted(domains.items()))


def create(cache: DomainCache, *, sp_uuid: str, name: str, master_uuid: str,
           master_version: int, lease_params: dict[str, Any],
           pauses: PausePoints = NO_PAUSE) -> None:
    """createStoragePool: make ``master_uuid`` the master of a new pool."""
    if len(name) > MAX_POOL_DESCRIPTION:
        raise StoragePoolDescriptionTooLongError(
            f"Storage pool description is too long ({len(name)})")
    master = cache.produce(master_uuid)
    md = master.read_metadata()
    dom_class = master.dom_class(md)
    if dom_class == sc.ISO_DOMAIN:
        raise IsoCannotBeMasterDomain(f"{master_uuid} is an ISO domain")
    if dom_class == sc.BACKUP_DOMAIN:
        raise BackupCannotBeMasterDomain(f"{master_uuid} is a backup domain")
    if master.pools(md):
        raise StoragePoolCreationError(
            f"Domain {master_uuid} already belongs to pool {master.pools(md)}")
    master.create_master_dir()
    master.release_master_dir()     # laid out; the SPM mounts a block master
    pauses.reach("create_pool")
    changes: dict[str, Any] = {
        sc.MD_ROLE: sc.MASTER_DOMAIN, sc.MD_POOLS: sp_uuid,
        sc.PMD_DESCRIPTION: name,
        sc.PMD_DOMAINS: format_domains({master_uuid: sc.DOM_ACTIVE}),
        sc.PMD_SPM_ID: -1, sc.PMD_SPM_LVER: -1,
        sc.PMD_MASTER_VERSION: master_version,
    }
    changes.update({k: v for k, v in lease_params.items() if v is not None})
    master.update_metadata(changes)
    log.info("created pool %s (%s) with master %s", sp_uuid, name, master_uuid)


class StoragePool:
    """A pool this host is connected to; thread-safe for reading."""

    def __init__(self, sp_uuid: str, *, host_id: int, master_uuid: str,
                 cache: DomainCache, monitor: DomainMonitor, repository: str,
                 mailbox: HostMailboxFactory | None = None) -> None:
        self.sp_uuid = sp_uuid
        self.host_id = host_id
        self.master_uuid = master_uuid
        self.cache = cache
        self.monitor = monitor
        self.pool_dir = os.path.join(repository, sp_uuid)
        self._mailbox_factory = mailbox
        self.mailbox: HostMailbox | None = None
        self._mailbox_master: str | None = None

    # --- metadata ---------------------------------------------------------
    @property
    def master(self) -> StorageDomain:
        return self.cache.produce(self.master_uuid)

    def metadata(self) -> Metadata:
        return self.master.read_metadata()

    def domains(self, md: Metadata | None = None) -> dict[str, str]:
        md = md if md is not None else self.metadata()
        return parse_domains(md.get(sc.PMD_DOMAINS, ""))

    def master_version(self, md: Metadata | None = None) -> int:
        md = md if md is not None else self.metadata()
        return int(md.get(sc.PMD_MASTER_VERSION, 0))

    def check_master(self, master_uuid: str, master_version: int) -> Metadata:
        """Verify this is the pool's master at the expected version."""
        if master_uuid != self.master_uuid:
            raise StorageDomainMasterError(
                f"{master_uuid} is not the master of pool {self.sp_uuid} "
                f"({self.master_uuid} is)")
        md = self.metadata()
        master = self.master
        if not master.is_master(md) or self.sp_uuid not in master.pools(md):
            raise StorageDomainMasterError(
                f"Domain {master_uuid} is not the master of pool {self.sp_uuid}")
        if self.master_version(md) != master_version:
            raise StorageDomainMasterError(
                f"Master version mismatch: expected {master_version}, "
                f"found {self.master_version(md)}")
        return md

    # --- connection -------------------------------------------------------
    def connect(self, master_version: int) -> None:
        md = self.check_master(self.master_uuid, master_version)
        self.refresh_links(md)
        for sd_uuid, status in self.domains(md).items():
            if status == sc.DOM_ACTIVE:
                self.monitor.start_monitoring(sd_uuid, self.host_id, pool=True)
        log.info("connected to pool %s as host %s", self.sp_uuid, self.host_id)

    def disconnect(self) -> None:
        self._stop_mailbox()
        self.monitor.stop_monitoring(sorted(self.monitor.pool_domains))
        for name in _listdir(self.pool_dir):
            path = os.path.join(self.pool_dir, name)
            if os.path.islink(path):
                os.unlink(path)
        try:
            os.rmdir(self.pool_dir)
        except OSError as e:
            log.warning("cannot remove %s: %s", self.pool_dir, e)
        log.info("disconnected from pool %s", self.sp_uuid)

    def refresh_links(self, md: Metadata | None = None) -> None:
        """Make the pool directory's links match the pool's domains."""
        domains = self.domains(md)
        os.makedirs(self.pool_dir, exist_ok=True)
        wanted = {u: self._domain_dir(u) for u in domains}
        wanted[sc.POOL_MASTER_LINK] = self._domain_dir(self.master_uuid)
        for name in _listdir(self.pool_dir):
            path = os.path.join(self.pool_dir, name)
            if os.path.islink(path) and name not in wanted:
                os.unlink(path)
        for name, target in wanted.items():
            if target is None:
                continue
            path = os.path.join(self.pool_dir, name)
            if os.path.islink(path) and os.readlink(path) == target:
                continue
            tmp = path + ".tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(target, tmp)
            os.rename(tmp, path)
        self._follow_master()

    def _follow_master(self) -> None:
        """Run the host mailbox on the current master (after connect and
        after every master change, both of which refresh the links)."""
        if self._mailbox_factory is None or self._mailbox_master == self.master_uuid:
            return
        self._stop_mailbox()
        try:
            mailbox = self._mailbox_factory(self.master, self.host_id)
        except ValueError as e:  # a host id the mailbox has no place for
            log.error("no mailbox for pool %s: %s", self.sp_uuid, e)
            return
        if mailbox is None:
            return
        mailbox.start()
        self.mailbox, self._mailbox_master = mailbox, self.master_uuid

    def _stop_mailbox(self) -> None:
        mailbox, self.mailbox, self._mailbox_master = self.mailbox, None, None
        if mailbox is not None:
            mailbox.stop()

    def _domain_dir(self, sd_uuid: str) -> str | None:
        return self.cache.produce(sd_uuid).domain_dir

    def run_path(self, sd_uuid: str, img_uuid: str) -> str:
        """An image directory as VMs see it, through the pool's links."""
        return os.path.join(self.pool_dir, sd_uuid, sc.DOMAIN_IMAGES, img_uuid)

    # --- reporting ----------------------------------------------------------
    def info(self, spm_id: int, lver: int) -> dict[str, Any]:
        """getStoragePoolInfo: ``info`` and ``dominfo``."""
        md = self.metadata()
        domains = self.domains(md)
        statuses = self.monitor.status()
        dominfo = {}
        iso_prefix = ""
        for sd_uuid, status in domains.items():
            entry: dict[str, Any] = {"status": status, "alerts": []}
            st = statuses.get(sd_uuid)
            if st is not None and st.actual:
                entry.update(diskfree=str(st.disk_free), disktotal=str(st.disk_total),
                             version=st.version)
            try:
                dom = self.cache.produce(sd_uuid)
                if status == sc.DOM_ACTIVE and st is not None and st.valid and \
                        dom.dom_class() == sc.ISO_DOMAIN:
                    iso_prefix = self.run_path(sd_uuid, sc.ISO_IMAGE_UUID)
                    entry["isoprefix"] = iso_prefix
            except Exception as e:  # info must answer even with a broken domain
                log.warning("pool info: domain %s: %s", sd_uuid, e)
            dominfo[sd_uuid] = entry
        info = {
            "name": md.get(sc.PMD_DESCRIPTION, ""), "isoprefix": iso_prefix,
            "pool_status": "connected", "lver": lver, "spm_id": spm_id,
            "domains": format_domains(domains), "master_uuid": self.master_uuid,
            "master_ver": self.master_version(md), "version": md.get(sc.MD_VERSION, ""),
            "type": md.get(sc.MD_TYPE, "UNKNOWN"),
        }
        return {"info": info, "dominfo": dominfo}


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
