"""Finding domains: which mount holds a domain, and the domain objects.

File domains are found by looking for ``<mount root>/<mount>/<sdUUID>/
dom_md/metadata``. Each mount is probed by its own I/O helper with a short
timeout, all mounts at once, so a hung mount delays a lookup by at most
the timeout and never blocks lookups of domains elsewhere; a domain found
once is remembered and later calls touch no storage to find it.

Block domains are VGs named after the domain and tagged as one, on the
devices the host lists (:mod:`vdsm.storage.domains.block.lookup`); they
are looked for after the mounts, and a failing device listing only
leaves them out (logged).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.context import StorageContext
from vdsm.storage.domains.block import lookup as block_lookup
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.domains.file.domain import FileStorageDomain, is_uuid
from vdsm.storage.errors import StorageDomainDoesNotExist

log = logging.getLogger(__name__)



class DomainCache:
    """Domain objects by UUID; thread-safe."""

    def __init__(self, ctx: StorageContext, *, lookup_timeout: float,
                 block_domains: bool = False) -> None:
        """``block_domains``: also look for VGs of block domains on the
        host's devices (the agent does; contexts without supervdsm, as
        some file-domain tests build, cannot run LVM)."""
        self.ctx = ctx
        self.lookup_timeout = lookup_timeout
        self.block_domains = block_domains
        self._lock = threading.Lock()
        self._domains: dict[str, StorageDomain] = {}
        # Whether this host is the one changing shared storage (the SPM):
        # only then is what it cached of a domain known to be current.
        self.is_writer: Callable[[], bool] = lambda: False
        self._was_writer = False

    def produce(self, sd_uuid: str) -> StorageDomain:
        """The domain (found on first use); raises StorageDomainDoesNotExist.

        When this host has just become the writer, every known domain's
        cache is dropped first: it was filled while another host changed
        the storage."""
        writer = self.is_writer()
        if writer and not self._was_writer:
            for known in self.known():
                known.invalidate()
        self._was_writer = writer
        with self._lock:
            dom = self._domains.get(sd_uuid)
        if dom is not None:
            return dom
        found = self._scan(lambda mnt: [sd_uuid] if self._has_domain(mnt, sd_uuid)
                           else [])
        if not found:
            block = self._find_block(sd_uuid)
            if block is not None:
                return self.add_domain(block)
            raise StorageDomainDoesNotExist(
                f"Storage domain does not exist: {sd_uuid}", sd_uuid=sd_uuid)
        if len(found) > 1:
            log.warning("domain %s found on several mounts: %s", sd_uuid,
                        [m for _, m in found])
        return self.add(sd_uuid, found[0][1])

    def current(self, sd_uuid: str) -> StorageDomain:
        """The domain, for a verb that reads it: on a host that is not the
        writer its cache is dropped first, so what the SPM changed shows
        at once (on block domains, one LVM report more per such verb)."""
        dom = self.produce(sd_uuid)
        if not self.is_writer():
            dom.invalidate()
        return dom

    def add(self, sd_uuid: str, mount_dir: str) -> StorageDomain:
        dom = FileStorageDomain(
            sd_uuid, mount_dir=mount_dir, ops=self.ctx.file_ops(mount_dir),
            leases=self.ctx.leases)
        return self.add_domain(dom)

    def add_domain(self, dom: StorageDomain) -> StorageDomain:
        """Remember ``dom`` unless one is known already (returned then)."""
        with self._lock:
            return self._domains.setdefault(dom.sd_uuid, dom)

    def invalidate(self, sd_uuid: str) -> None:
        with self._lock:
            self._domains.pop(sd_uuid, None)

    def known(self) -> list[StorageDomain]:
        with self._lock:
            return list(self._domains.values())

    def scan_all(self) -> list[str]:
        """UUIDs of every domain on every connected mount (and, when asked,
        on the host's devices); those found are remembered."""
        found = self._scan(self._domains_on)
        for sd_uuid, mount_dir in found:
            with self._lock:
                known = sd_uuid in self._domains
            if not known:
                self.add(sd_uuid, mount_dir)
        return sorted({u for u, _ in found} | set(self._block_uuids()))

    def _find_block(self, sd_uuid: str) -> StorageDomain | None:
        if not self.block_domains:
            return None
        try:
            return block_lookup.find_domain(self.ctx, sd_uuid)
        except (OSError, VdsmError) as e:
            log.warning("cannot look for block domain %s: %s", sd_uuid, e)
            return None

    def _block_uuids(self) -> list[str]:
        """UUIDs of the block domains on the host's devices; those not
        known yet are remembered, as scan_all does with file domains."""
        if not self.block_domains:
            return []
        try:
            names = sorted(block_lookup.domain_vgs(self.ctx))
        except (OSError, VdsmError) as e:
            log.warning("cannot list block domains: %s", e)
            return []
        for sd_uuid in names:
            with self._lock:
                known = sd_uuid in self._domains
            if not known:
                try:
                    self.add_domain(block_lookup.domain(self.ctx, sd_uuid))
                except (OSError, VdsmError) as e:
                    log.warning("block domain %s left out: %s", sd_uuid, e)
        return names

    def _mounts(self) -> list[str]:
        root = self.ctx.mount_root
        try:
            names = os.listdir(root)  # the local root, never a remote mount
        except FileNotFoundError:
            return []
        return [os.path.join(root, n) for n in sorted(names)
                if not n.startswith(".") and n != sc.BLOCK_SD_DIR]

    def _has_domain(self, mount_dir: str, sd_uuid: str) -> bool:
        path = os.path.join(mount_dir, sd_uuid, sc.DOMAIN_META_DATA, sc.METADATA)
        return self.ctx.file_ops(mount_dir).exists(path)

    def _domains_on(self, mount_dir: str) -> list[str]:
        pattern = os.path.join(mount_dir, "*", sc.DOMAIN_META_DATA, sc.METADATA)
        paths = self.ctx.file_ops(mount_dir).glob(pattern)
        return [p.split("/")[-3] for p in paths if is_uuid(p.split("/")[-3])]

    def _scan(self, probe: Callable[[str], list[str]]) -> list[tuple[str, str]]:
        """Run ``probe(mount)`` on every mount in parallel, bounded in time."""
        results: list[tuple[str, str]] = []
        lock = threading.Lock()

        def run(mount_dir: str) -> None:
            try:
                uuids = probe(mount_dir)
            except (OSError, VdsmError) as e:
                log.warning("cannot look for domains in %s: %s", mount_dir, e)
                return
            with lock:
                results.extend((u, mount_dir) for u in uuids)

        threads = [threading.Thread(target=run, args=(m,), daemon=True,
                                    name="sd-lookup") for m in self._mounts()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.lookup_timeout + 1)
        with lock:
            return list(results)
