"""Read-only questions about a pool's content: the files of an ISO domain
(getFileStats) and the domains holding an image (getImageDomainsList).

Both read through the domains' FileOps (out of process in the daemon), so
a hung mount blocks a helper, not an API worker.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from typing import Any, Callable

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage import resources as rm
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.domain import StorageDomain
from vdsm.storage.errors import GetFileStatsError, GetStorageDomainListError
from vdsm.storage.spm.pool import StoragePool
from vdsm.storage.volumes import domain_lock

log = logging.getLogger(__name__)


def match(names: list[str], pattern: str, *, case_sensitive: bool) -> list[str]:
    """Glob ``pattern`` over ``names``; ``*`` matches everything, as classic."""
    if pattern in ("", "*"):
        return sorted(names)
    flags = 0 if case_sensitive else re.IGNORECASE
    regex = re.compile(fnmatch.translate(pattern), flags)
    return sorted(n for n in names if regex.match(n))


def file_stats(dom: StorageDomain, pattern: str = "*", *,
               case_sensitive: bool = False) -> dict[str, dict[str, Any]]:
    """{name: {size, ctime, readable}} of the files in an ISO domain.

    Raises GetFileStatsError for a domain that is not an ISO domain or
    whose ISO directory cannot be read."""
    if dom.dom_class() != sc.ISO_DOMAIN:
        raise GetFileStatsError(f"Cannot get file stats: {dom.sd_uuid} is not an "
                                "ISO domain")
    iso_dir = dom.image_path(sc.ISO_IMAGE_UUID)
    try:
        names = dom.ops.listdir(iso_dir)
    except OSError as e:
        raise GetFileStatsError(f"Cannot get file stats of {dom.sd_uuid}: {e}") from e
    result = {}
    for name in match(names, pattern, case_sensitive=case_sensitive):
        path = os.path.join(iso_dir, name)
        try:
            st = dom.ops.stat(path)
        except FileNotFoundError:
            continue    # removed while listing
        if st["isdir"]:
            continue
        result[name] = {"size": st["size"], "ctime": int(st["ctime"]),
                        "readable": dom.ops.readable(path)}
    return result


def domains_with_image(pool: StoragePool, resources: rm.ResourceManager,
                       img_uuid: str) -> list[str]:
    """The pool's active data domains holding ``img_uuid`` (sorted).

    A domain that cannot be read is logged and left out, as classic; an
    unreadable pool raises GetStorageDomainListError."""
    try:
        active = sorted(u for u, s in pool.domains().items() if s == sc.DOM_ACTIVE)
    except OSError as e:
        raise GetStorageDomainListError(
            f"Cannot get Storage Domains list of pool {pool.sp_uuid}: {e}") from e
    found = []
    for sd_uuid in active:
        try:
            dom = pool.cache.produce(sd_uuid)
            if dom.dom_class() != sc.DATA_DOMAIN:
                continue
            with resources.acquire([domain_lock(sd_uuid)]):
                if img_uuid in dom.images():
                    found.append(sd_uuid)
        except (OSError, VdsmError) as e:
            log.warning("cannot list the images of %s: %s", sd_uuid, e)
    return found


class RepoFiles:
    """The service's face of the functions above, for a connected pool."""

    def __init__(self, cache: DomainCache, resources: rm.ResourceManager, *,
                 pool: Callable[[str], StoragePool]) -> None:
        """``pool(sp)`` answers the connected pool (StoragePoolUnknown)."""
        self.cache = cache
        self.resources = resources
        self._pool = pool

    def iso_files(self, sp_uuid: str, pattern: str) -> list[str]:
        """Names of the files of the pool's active ISO domain (getIsoList)."""
        pool = self._pool(sp_uuid)
        for sd_uuid, status in pool.domains().items():
            if status != sc.DOM_ACTIVE:
                continue
            dom = self.cache.produce(sd_uuid)
            if dom.dom_class() == sc.ISO_DOMAIN:
                return dom.files(pattern)
        return []

    def file_stats(self, sd_uuid: str, pattern: str, *,
                   case_sensitive: bool) -> dict[str, dict[str, Any]]:
        """getFileStats (any host, the domain need not be in a pool)."""
        with self.resources.acquire([domain_lock(sd_uuid)]):
            return file_stats(self.cache.produce(sd_uuid), pattern,
                              case_sensitive=case_sensitive)

    def image_domains(self, sp_uuid: str, img_uuid: str) -> list[str]:
        """getImageDomainsList (any host connected to the pool)."""
        return domains_with_image(self._pool(sp_uuid), self.resources, img_uuid)
