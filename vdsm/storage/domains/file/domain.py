"""File storage domains (NFS, local, POSIX, Gluster): a directory per domain.

Layout, as the classic agent's::

    <mount>/<sdUUID>/dom_md/{metadata,ids,leases,inbox,outbox}
    <mount>/<sdUUID>/images/<imgUUID>/<volUUID>{,.meta,.lease}
    <mount>/<sdUUID>/master/{tasks,vms}            (the master domain)

A new domain is laid out in a hidden temporary directory and renamed into
place, so it appears complete or not at all. All I/O goes through the
domain's FileOps (a helper process in the daemon).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import uuid
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.domains import metadata as mdformat
from vdsm.storage.domains.domain import (
    Metadata,
    StorageDomain,
    class_name,
    new_metadata,
    register_backend,
)
from vdsm.storage.domains.file.volume import FileVolume
from vdsm.storage.errors import (
    ImageDoesNotExistInSD,
    StorageDomainAlreadyExists,
    StorageDomainDoesNotExist,
    StorageDomainFSNotMounted,
    StorageDomainLayoutError,
    VolumeDoesNotExist,
)
from vdsm.storage.io.file_operations import FileOps
from vdsm.storage.leases.manager import LeaseManager

log = logging.getLogger(__name__)

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DIR_MODE = 0o755


def is_uuid(name: str) -> bool:
    return bool(_UUID_RE.match(name))


class FileStorageDomain(StorageDomain):
    def __init__(self, sd_uuid: str, *, mount_dir: str, ops: FileOps,
                 leases: LeaseManager) -> None:
        super().__init__(sd_uuid)
        self.mount_dir = mount_dir
        self.domain_dir = os.path.join(mount_dir, sd_uuid)
        self.ops = ops
        self.leases = leases

    def __repr__(self) -> str:
        return f"<FileStorageDomain {self.sd_uuid} at {self.domain_dir}>"

    # --- creation ---------------------------------------------------------
    @classmethod
    def create(cls, *, mount_dir: str, sd_uuid: str, name: str, dom_type: int,
               dom_class: int, version: int, remote_path: str, ops: FileOps,
               leases: LeaseManager) -> FileStorageDomain:
        """Lay out a new domain on a mounted file system.

        Raises StorageDomainFSNotMounted, StorageDomainAlreadyExists, and
        the lease manager's ClusterLockInitError.
        """
        md = new_metadata(sd_uuid=sd_uuid, name=name, dom_type=dom_type,
                             dom_class=dom_class, version=version,
                             extra={sc.MD_REMOTE_PATH: remote_path})
        if not ops.exists(mount_dir):
            raise StorageDomainFSNotMounted(f"{remote_path} is not connected",
                                            path=mount_dir)
        final = os.path.join(mount_dir, sd_uuid)
        if ops.exists(final):
            raise StorageDomainAlreadyExists(
                f"Storage domain already exists: {sd_uuid}")
        tmp = os.path.join(mount_dir, f".{sd_uuid}.{uuid.uuid4().hex[:8]}.creating")
        ops.mkdir(tmp, DIR_MODE)
        try:
            md_dir = os.path.join(tmp, sc.DOMAIN_META_DATA)
            ops.mkdir(md_dir, DIR_MODE)
            ops.mkdir(os.path.join(tmp, sc.DOMAIN_IMAGES), DIR_MODE)
            if dom_class == sc.ISO_DOMAIN:
                ops.mkdir(os.path.join(tmp, sc.DOMAIN_IMAGES, sc.ISO_IMAGE_UUID),
                          DIR_MODE)
            for name_ in (sc.IDS, sc.LEASES, sc.INBOX, sc.OUTBOX):
                size = sc.MAILBOX_SIZE if name_ in (sc.INBOX, sc.OUTBOX) else 0
                ops.create_file(os.path.join(md_dir, name_), 0o660, size)
            ops.write_atomic(os.path.join(md_dir, sc.METADATA),
                             mdformat.dump_domain(md), 0o660)
            leases.init_lockspace(sd_uuid, os.path.join(md_dir, sc.IDS))
            leases.init_resource(sd_uuid, sc.SDM_LEASE_NAME,
                                 os.path.join(md_dir, sc.LEASES), sc.SDM_LEASE_OFFSET)
            ops.rename(tmp, final)
        except BaseException:
            _remove_quietly(ops, tmp)
            raise
        ops.fsync_dir(mount_dir)
        log.info("created %s domain %s (%s) in %s", class_name(dom_class),
                 sd_uuid, name, mount_dir)
        return cls(sd_uuid, mount_dir=mount_dir, ops=ops, leases=leases)

    # --- metadata ---------------------------------------------------------
    @property
    def md_dir(self) -> str:
        return os.path.join(self.domain_dir, sc.DOMAIN_META_DATA)

    @property
    def md_path(self) -> str:
        return os.path.join(self.md_dir, sc.METADATA)

    def read_metadata(self) -> Metadata:
        try:
            data = self.ops.read_file(self.md_path, True)
        except FileNotFoundError:
            raise StorageDomainDoesNotExist(
                f"Storage domain does not exist: {self.sd_uuid}") from None
        md = mdformat.parse_domain(data, source=self.md_path)
        if md.get(sc.MD_SDUUID) != self.sd_uuid:
            raise StorageDomainLayoutError(
                f"{self.md_path} belongs to domain {md.get(sc.MD_SDUUID)!r}")
        return md

    def write_metadata(self, md: Metadata) -> None:
        self.ops.write_atomic(self.md_path, mdformat.dump_domain(md), 0o660)

    # --- layout -----------------------------------------------------------
    @property
    def ids_path(self) -> str:
        return os.path.join(self.md_dir, sc.IDS)

    @property
    def leases_path(self) -> str:
        return os.path.join(self.md_dir, sc.LEASES)

    @property
    def inbox_path(self) -> str:
        return os.path.join(self.md_dir, sc.INBOX)

    @property
    def outbox_path(self) -> str:
        return os.path.join(self.md_dir, sc.OUTBOX)

    @property
    def master_dir(self) -> str:
        return os.path.join(self.domain_dir, sc.MASTER_FS_DIR)

    def create_master_dir(self) -> None:
        for sub in (sc.TASKS_DIR, sc.VMS_DIR):
            self.ops.makedirs(os.path.join(self.master_dir, sub), DIR_MODE)

    def info(self) -> dict[str, Any]:
        md = self.read_metadata()
        info = self.common_info(md)
        info["remotePath"] = md.get(sc.MD_REMOTE_PATH, "")
        if self.is_master(md):
            info["lver"] = int(md.get(sc.PMD_SPM_LVER, -1))
            info["spm_id"] = int(md.get(sc.PMD_SPM_ID, -1))
            info["master_ver"] = int(md.get(sc.PMD_MASTER_VERSION, 0))
        return info

    def stats(self) -> dict[str, Any]:
        try:
            st = self.ops.statvfs(self.domain_dir)
        except FileNotFoundError:  # formatted, or its storage disconnected
            raise self._gone() from None
        return {"disktotal": str(st["total"]), "diskfree": str(st["free"]),
                "mdasize": 0, "mdafree": 0, "mdavalid": True, "mdathreshold": True}

    def check(self) -> float:
        try:
            return self.ops.check_read(self.md_path)
        except FileNotFoundError:
            raise StorageDomainDoesNotExist(
                f"Storage domain metadata missing: {self.sd_uuid}") from None

    def format(self) -> None:
        doomed = os.path.join(self.mount_dir, f".{self.sd_uuid}.removing")
        self.ops.rename(self.domain_dir, doomed)
        self.ops.rmtree(doomed)
        log.info("formatted (removed) domain %s", self.sd_uuid)

    # --- images and volumes -------------------------------------------------
    @property
    def images_dir(self) -> str:
        return os.path.join(self.domain_dir, sc.DOMAIN_IMAGES)

    def image_path(self, img_uuid: str) -> str:
        return os.path.join(self.images_dir, img_uuid)

    def images(self) -> list[str]:
        try:
            names = self.ops.listdir(self.images_dir)
        except FileNotFoundError:
            raise self._gone() from None
        return [n for n in names if is_uuid(n)]

    def _gone(self) -> StorageDomainDoesNotExist:
        return StorageDomainDoesNotExist(
            f"Storage domain does not exist: {self.sd_uuid}")

    def volumes(self, img_uuid: str | None = None) -> list[str]:
        image = img_uuid if img_uuid is not None else "*"
        pattern = os.path.join(self.images_dir, image, "*" + sc.META_FILEEXT)
        found = self.ops.glob(pattern)
        names = [os.path.basename(p)[:-len(sc.META_FILEEXT)] for p in found]
        if img_uuid is None:
            names = [n for p, n in zip(found, names, strict=True)
                     if is_uuid(os.path.basename(os.path.dirname(p)))]
        return sorted(n for n in names if is_uuid(n))

    def volume(self, img_uuid: str, vol_uuid: str) -> FileVolume:
        vol = self.new_volume(img_uuid, vol_uuid)
        if not self.ops.exists(vol.meta_path):
            raise VolumeDoesNotExist(f"Volume does not exist: {vol_uuid}",
                                     volume=vol_uuid)
        return vol

    def new_volume(self, img_uuid: str, vol_uuid: str) -> FileVolume:
        return FileVolume(self.sd_uuid, img_uuid, vol_uuid,
                          image_dir=self.image_path(img_uuid), ops=self.ops,
                          leases=self.leases)

    def create_image(self, img_uuid: str) -> bool:
        try:
            self.ops.mkdir(self.image_path(img_uuid), DIR_MODE)
        except FileExistsError:
            return False
        return True

    def remove_image_if_empty(self, img_uuid: str) -> None:
        try:
            self.ops.rmdir(self.image_path(img_uuid))
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                raise

    def delete_image(self, img_uuid: str) -> None:
        doomed = os.path.join(self.images_dir, sc.REMOVED_IMAGE_PREFIX + img_uuid)
        if self.ops.exists(doomed):
            self.ops.rmtree(doomed)
        try:
            self.ops.rename(self.image_path(img_uuid), doomed)
        except FileNotFoundError:
            raise ImageDoesNotExistInSD(
                f"Image {img_uuid} does not exist in domain {self.sd_uuid}") from None
        self.ops.rmtree(doomed)
        log.info("deleted image %s of domain %s", img_uuid, self.sd_uuid)

    def files(self, pattern: str) -> list[str]:
        iso_dir = self.image_path(sc.ISO_IMAGE_UUID)
        return [os.path.basename(p)
                for p in self.ops.glob(os.path.join(iso_dir, pattern))]


def _remove_quietly(ops: FileOps, path: str) -> None:
    try:
        ops.rmtree(path)
    except OSError as e:
        log.warning("cannot clean up %s: %s", path, e)


def _factory(sd_uuid: str, *, mount_dir: str, ops: FileOps,
             leases: LeaseManager) -> FileStorageDomain:
    return FileStorageDomain(sd_uuid, mount_dir=mount_dir, ops=ops, leases=leases)


register_backend(sc.FILE_DOMAIN_TYPES, _factory)
