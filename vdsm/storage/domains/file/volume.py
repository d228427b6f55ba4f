"""Volumes of file domains: ``images/<img>/<vol>`` with ``.meta`` and ``.lease``.

Data is a RAW file (sparse or fallocated) or a qcow2 file whose backing
file is the parent's bare UUID, in the same image directory. Metadata
writes are atomic; removal takes the metadata last, so a volume whose data
is gone but whose metadata remains is still found and removed again.
"""

from __future__ import annotations

import logging
import os

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage.domains.volume import Volume, VolumeMetadata
from vdsm.storage.errors import (
    IncorrectFormat,
    VolumeCreationError,
    VolumeDoesNotExist,
    VolumeExtendingError,
)
from vdsm.storage.io.file_operations import FileOps
from vdsm.storage.leases.manager import LeaseManager

log = logging.getLogger(__name__)

COW = sc.VOL_FORMATS[sc.COW_FORMAT]
RAW = sc.VOL_FORMATS[sc.RAW_FORMAT]


def qemu_format(vol_format: str) -> str:
    return qemuimg.QCOW2 if vol_format == COW else qemuimg.RAW


class FileVolume(Volume):
    def __init__(self, sd_uuid: str, img_uuid: str, vol_uuid: str, *,
                 image_dir: str, ops: FileOps, leases: LeaseManager) -> None:
        super().__init__(sd_uuid, img_uuid, vol_uuid)
        self.image_dir = image_dir
        self.ops = ops
        self.leases = leases

    @property
    def path(self) -> str:
        return os.path.join(self.image_dir, self.vol_uuid)

    @property
    def meta_path(self) -> str:
        return self.path + sc.META_FILEEXT

    @property
    def lease(self) -> tuple[str, int]:
        return self.path + sc.LEASE_FILEEXT, 0

    def exists(self) -> bool:
        return self.ops.exists(self.meta_path) or self.ops.exists(self.path)

    def metadata(self) -> VolumeMetadata:
        try:
            data = self.ops.read_file(self.meta_path)
        except FileNotFoundError:
            raise VolumeDoesNotExist(
                f"Volume does not exist: {self.vol_uuid}", volume=self.vol_uuid) \
                from None
        return VolumeMetadata.parse(data, source=self.meta_path)

    def write_metadata(self, md: VolumeMetadata) -> None:
        self.ops.write_atomic(self.meta_path, md.dump(), sc.FILE_VOLUME_PERMISSIONS)

    def create_data(self, md: VolumeMetadata, *, parent: Volume | None,
                    preallocate: bool, initial_size: int | None = None,
                    check_parent: bool = True) -> None:
        mode = sc.FILE_VOLUME_PERMISSIONS
        if md.format == RAW:
            if parent is not None:
                raise IncorrectFormat("A RAW volume cannot have a parent")
            self.ops.create_file(self.path, mode, md.capacity)
            if preallocate:
                self.ops.preallocate(self.path, md.capacity)
            return
        self.ops.create_file(self.path, mode, 0)
        backing = backing_format = None
        if parent is not None:
            backing = parent.vol_uuid
            backing_format = qemu_format(parent.metadata().format)
        try:
            qemuimg.create(self.path, size=md.capacity, fmt=qemuimg.QCOW2,
                           backing=backing, backing_format=backing_format,
                           preallocation="falloc" if preallocate else None,
                           cwd=self.image_dir, check_backing=check_parent)
        except qemuimg.QemuImgError as e:
            raise VolumeCreationError(f"Cannot create {self.vol_uuid}: {e.message}") \
                from None

    def create_lease(self) -> None:
        path, offset = self.lease
        try:
            self.ops.create_file(path, sc.FILE_VOLUME_PERMISSIONS, 0)
        except FileExistsError:
            pass
        self.leases.init_resource(self.sd_uuid, self.vol_uuid, path, offset)

    def remove(self) -> None:
        for path in (self.path, self.lease[0], self.meta_path):
            self.ops.unlink(path, True)
        log.info("removed volume %s/%s/%s", self.sd_uuid, self.img_uuid, self.vol_uuid)

    def size(self) -> dict[str, int]:
        try:
            st = self.ops.stat(self.path)
        except FileNotFoundError:
            raise VolumeDoesNotExist(f"Volume data missing: {self.vol_uuid}") from None
        return {"apparentsize": st["size"], "truesize": st["allocated"]}

    def extend(self, new_capacity: int, md: VolumeMetadata) -> None:
        try:
            if md.format == RAW:
                self.ops.truncate(self.path, new_capacity)
            else:
                qemuimg.resize(self.path, new_capacity, fmt=qemuimg.QCOW2)
        except (OSError, qemuimg.QemuImgError) as e:
            raise VolumeExtendingError(f"Cannot extend {self.vol_uuid}: {e}") from None

    def prepare(self) -> None:
        """Nothing to activate: the file is there for every host."""

    def teardown(self) -> None:
        """Nothing to deactivate."""

    def link_into(self, image_dir: str) -> None:
        """Share this (template) volume with another image by hard links."""
        for suffix in ("", sc.META_FILEEXT, sc.LEASE_FILEEXT):
            target = os.path.join(image_dir, self.vol_uuid + suffix)
            try:
                self.ops.link(self.path + suffix, target)
            except FileExistsError:
                pass
