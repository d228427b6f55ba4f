"""Domain verbs any host may run: create, format, validate, info, lists.

(The pool-changing ones, attach/detach/activate/deactivate, are SPM
verbs: see :mod:`vdsm.storage.spm.pool_operations`.)
"""

from __future__ import annotations

import logging
import os
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.connections import mounts
from vdsm.storage.context import StorageContext
from vdsm.storage.domains.block import create as block_create
from vdsm.storage.domains.cache import DomainCache
from vdsm.storage.domains.file.domain import FileStorageDomain
from vdsm.storage.errors import (
    CannotFormatAttachedStorageDomain,
    StorageDomainClassError,
    StorageDomainDescriptionTooLongError,
    StorageDomainIllegalRemotePath,
    StorageDomainTypeError,
)

log = logging.getLogger(__name__)


class DomainService:
    def __init__(self, ctx: StorageContext, cache: DomainCache) -> None:
        self.ctx = ctx
        self.cache = cache

    def mount_dir(self, storage_type: int, remote_path: str) -> str:
        """Where a file domain's storage is connected under the mount root."""
        if not remote_path:
            raise StorageDomainIllegalRemotePath("Remote path is empty")
        spec = (os.path.normpath(remote_path) if storage_type == sc.LOCALFS_DOMAIN
                else mounts.normalize_remote(remote_path))
        return os.path.join(self.ctx.mount_root, mounts.transform_path(spec))

    def create(self, *, storage_type: int, sd_uuid: str, name: str,
               type_arg: str, dom_class: int, version: int | None) -> None:
        """createStorageDomain: lay out a new, unattached domain (for block
        types ``type_arg`` is the UUID of a VG createVG made)."""
        if storage_type not in sc.FILE_DOMAIN_TYPES | sc.BLOCK_DOMAIN_TYPES:
            raise StorageDomainTypeError(
                f"Unsupported Storage Domain type {storage_type}")
        if dom_class not in sc.DOMAIN_CLASSES:
            raise StorageDomainClassError(f"Invalid domain class value {dom_class}")
        if storage_type in sc.BLOCK_DOMAIN_TYPES:
            dom = block_create.create_domain(
                self.ctx, sd_uuid=sd_uuid, name=name, dom_type=storage_type,
                dom_class=dom_class, version=version or sc.DOMAIN_VERSION,
                vg_uuid=type_arg)
            self.cache.invalidate(sd_uuid)
            self.cache.add_domain(dom)
            return
        mount_dir = self.mount_dir(storage_type, type_arg)
        fresh = not self.ctx.has_file_ops(mount_dir)
        try:
            FileStorageDomain.create(
                mount_dir=mount_dir, sd_uuid=sd_uuid, name=name,
                dom_type=storage_type, dom_class=dom_class,
                version=version or sc.DOMAIN_VERSION, remote_path=type_arg,
                ops=self.ctx.file_ops(mount_dir), leases=self.ctx.leases)
        except Exception:
            if fresh:  # nothing connected there: no helper to keep
                self.ctx.release_file_ops(mount_dir)
            raise
        self.cache.invalidate(sd_uuid)
        self.cache.add(sd_uuid, mount_dir)

    def format(self, sd_uuid: str, *, auto_detach: bool) -> None:
        """formatStorageDomain: remove a domain that belongs to no pool."""
        dom = self.cache.produce(sd_uuid)
        md = dom.read_metadata()
        if dom.pools(md) and not (auto_detach and not dom.is_master(md)):
            raise CannotFormatAttachedStorageDomain(
                f"Cannot format attached storage domain {sd_uuid}")
        dom.format()
        self.cache.invalidate(sd_uuid)

    def validate(self, sd_uuid: str) -> None:
        """validateStorageDomain: the metadata is readable and consistent."""
        dom = self.cache.produce(sd_uuid)
        md = dom.read_metadata()
        dom.version(md)
        dom.dom_class(md)

    def info(self, sd_uuid: str) -> dict[str, Any]:
        return self.cache.produce(sd_uuid).info()

    def stats(self, sd_uuid: str) -> dict[str, Any]:
        return self.cache.produce(sd_uuid).stats()

    def set_description(self, sd_uuid: str, description: str) -> None:
        if len(description) > sc.DESCRIPTION_SIZE:
            raise StorageDomainDescriptionTooLongError(
                f"Storage domain description is too long ({len(description)})")
        self.cache.produce(sd_uuid).update_metadata({sc.MD_DESCRIPTION: description})

    def list(self, *, sp_uuid: str | None = None, dom_class: int | None = None,
             storage_type: int | None = None,
             remote_path: str | None = None) -> list[str]:
        """getStorageDomainsList with its filters (0/None/"" = any)."""
        result = []
        for sd_uuid in self.cache.scan_all():
            if not (sp_uuid or dom_class or storage_type or remote_path):
                result.append(sd_uuid)
                continue
            try:
                md = self.cache.produce(sd_uuid).read_metadata()
            except Exception as e:  # a broken domain is left out, not fatal
                log.warning("skipping domain %s: %s", sd_uuid, e)
                continue
            if sp_uuid and sp_uuid != sc.BLANK_UUID and \
                    sp_uuid not in md.get(sc.MD_POOLS, "").split(","):
                continue
            if dom_class and md.get(sc.MD_CLASS) != sc.DOMAIN_CLASSES.get(dom_class):
                continue
            if storage_type and md.get(sc.MD_TYPE) != sc.DOMAIN_TYPES.get(storage_type):
                continue
            if remote_path and md.get(sc.MD_REMOTE_PATH) != remote_path:
                continue
            result.append(sd_uuid)
        return result

    def images(self, sd_uuid: str) -> list[str]:
        return self.cache.current(sd_uuid).images()

    def volumes(self, sd_uuid: str, img_uuid: str | None) -> list[str]:
        if img_uuid == sc.BLANK_UUID:
            img_uuid = None
        return self.cache.current(sd_uuid).volumes(img_uuid)

