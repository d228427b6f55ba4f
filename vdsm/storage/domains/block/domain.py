"""Block storage domains (iSCSI, FCP): a VG named after the domain.

The domain metadata is the VG's ``MDT_`` tags (formats 3-5; see
:mod:`.tags`), the special LVs (:mod:`.layout`) hold the lockspace, the
leases, the mailboxes, the volume metadata slots and the master file
system; each volume is an LV tagged with its image. What the host builds
beside the VG lives under ``<mount root>/blockSD/<sdUUID>``: ``master``
(the master LV mounted there while this host needs it) and
``images/<imgUUID>`` (links to the volume LVs, as the classic agent had).

Every LVM call goes through ``vg.lvm`` (its report cache is per host): a
host that is not the SPM calls :meth:`BlockStorageDomain.invalidate`
when told that the SPM changed the VG. Creation is in :mod:`.create`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from vdsm.storage import constants as sc
from vdsm.storage.connections import mounts
from vdsm.storage.context import Privileged, StorageContext
from vdsm.storage.domains.block import growth, tags
from vdsm.storage.domains.block.errors import BlockStorageDomainMasterMountError
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.domains.block.volume import BlockVolume
from vdsm.storage.domains.domain import (
    Metadata,
    StorageDomain,
    register_backend,
)
from vdsm.storage.errors import (
    ImageDoesNotExistInSD,
    StorageDomainDoesNotExist,
    StorageDomainLayoutError,
    VolumeDoesNotExist,
)
from vdsm.storage.io.file_operations import FileOps
from vdsm.storage.lvm_errors import VolumeGroupDoesNotExist
from vdsm.storage.lvm_report import LV
from vdsm.supervdsm.errors import MountError

log = logging.getLogger(__name__)

DIR_MODE = 0o755
CHECK_SIZE = 4096
VG_METADATA_SIZE = 128 * sc.MiB     # what createVG gives a PV's metadata area
MDA_MIN_FREE = 0.2                  # classic VG_MDA_MIN_THRESHOLD
SPECIAL_LVS = frozenset(tags.SPECIAL_LVS_V4)
REFRESH_INTERVAL = 60.0             # seconds a monitored VG's reports are trusted


def host_dir(mount_root: str, sd_uuid: str) -> str:
    """``<mount root>/blockSD/<sdUUID>``: this host's links and master mount."""
    return os.path.join(mount_root, sc.BLOCK_SD_DIR, sd_uuid)


class BlockStorageDomain(StorageDomain):
    """One block domain; ``vg`` is what its volumes share (thread-safe as
    the LVM object is)."""

    refresh_interval = REFRESH_INTERVAL

    def __init__(self, sd_uuid: str, *, vg: VGAccess, mount_root: str,
                 privileged: Privileged) -> None:
        super().__init__(sd_uuid)
        self.vg = vg
        # This host's directory of the domain (links, master mount), the
        # pool's link target, as the classic /rhev/data-center/mnt/blockSD.
        self.domain_dir = host_dir(mount_root, sd_uuid)
        self.privileged = privileged
        self._refreshed = time.monotonic()

    def __repr__(self) -> str:
        return f"<BlockStorageDomain {self.sd_uuid}>"

    @classmethod
    def from_context(cls, ctx: StorageContext, sd_uuid: str) -> BlockStorageDomain:
        """The domain of VG ``sd_uuid`` (its PVs already known to ctx.lvm).

        Raises VolumeGroupDoesNotExist, MetaDataValidationError.
        """
        md = tags.parse_domain_tags(ctx.lvm.vg(sd_uuid).tags,
                                    source=f"VG {sd_uuid} tags")
        vg = VGAccess.from_context(
            ctx, sd_uuid, lvm=ctx.lvm,
            version=int(md.get(sc.MD_VERSION, sc.DOMAIN_VERSION)))
        return cls(sd_uuid, vg=vg, mount_root=ctx.mount_root,
                   privileged=ctx.supervdsm)

    # --- metadata ---------------------------------------------------------
    def invalidate(self) -> None:
        """Forget what this host cached of the VG (a non-SPM host, after
        the SPM changed it)."""
        self.vg.lvm.invalidate(self.sd_uuid)

    def _vg_tags(self) -> tuple[str, ...]:
        try:
            vg = self.vg.lvm.vg(self.sd_uuid)
        except VolumeGroupDoesNotExist:
            raise self._gone() from None
        if tags.DOMAIN_TAG not in vg.tags:
            raise self._gone()
        return vg.tags

    def read_metadata(self) -> Metadata:
        md = tags.parse_domain_tags(self._vg_tags(), source=f"VG {self.sd_uuid} tags")
        if md.get(sc.MD_SDUUID) != self.sd_uuid:
            raise StorageDomainLayoutError(
                f"VG {self.sd_uuid} belongs to domain {md.get(sc.MD_SDUUID)!r}")
        return md

    def write_metadata(self, md: Metadata) -> None:
        """Only the changed ``MDT_`` lines and the checksum change, read
        from LVM now (not the cache)."""
        self.invalidate()
        delete, add = tags.tag_changes(self._vg_tags(), md)
        if delete or add:
            self.vg.lvm.change_vg_tags(self.sd_uuid, delete=delete, add=add)

    # --- layout -----------------------------------------------------------
    @property
    def ids_path(self) -> str:
        return self.vg.lv_path(tags.IDS)

    @property
    def leases_path(self) -> str:
        return self.vg.lv_path(tags.LEASES)

    requires_mailbox = True

    @property
    def inbox_path(self) -> str:
        return self.vg.lv_path(tags.INBOX)

    @property
    def outbox_path(self) -> str:
        return self.vg.lv_path(tags.OUTBOX)

    @property
    def ops(self) -> FileOps:
        """Direct I/O on the special LVs (the pool mailbox uses it)."""
        return self.vg.ops

    @property
    def md_path(self) -> str:
        return self.vg.lv_path(tags.METADATA)

    @property
    def master_dir(self) -> str:
        return os.path.join(self.domain_dir, sc.MASTER_FS_DIR)

    def master_mounted(self) -> bool:
        return mounts.find_mount(self.master_dir) is not None

    def create_master_dir(self) -> None:
        """Mount the master LV (once) and lay out tasks/ and vms/ on it.

        Raises BlockStorageDomainMasterMountError, OSError.
        """
        if not self.master_mounted():
            self.vg.ops.makedirs(self.master_dir, DIR_MODE)
            if self.vg.activation:
                self.vg.lvm.activate(self.sd_uuid, tags.MASTER)
            try:
                self.privileged.call("mount_master", vg=self.sd_uuid)
            except MountError as e:
                raise BlockStorageDomainMasterMountError(
                    f"Master file system of {self.sd_uuid}: {e}") from None
            log.info("mounted the master file system of %s on %s", self.sd_uuid,
                     self.master_dir)
        for sub in (sc.TASKS_DIR, sc.VMS_DIR):
            self.vg.ops.makedirs(os.path.join(self.master_dir, sub), DIR_MODE)

    def release_master_dir(self) -> None:
        """Unmount the master file system if this host mounted it."""
        if self.master_mounted():
            self.privileged.call("umount", target=self.master_dir)
            log.info("unmounted the master file system of %s", self.sd_uuid)

    def info(self) -> dict[str, Any]:
        md = self.read_metadata()
        vg = self.vg.lvm.vg(self.sd_uuid)
        info = self.common_info(md)
        info.update({
            "vguuid": vg.uuid, "state": "PARTIAL" if vg.partial else "OK",
            "metadataDevice": self.metadata_device(),
            "vgMetadataDevice": self.vg_metadata_device(),
        })
        if self.is_master(md):
            info["lver"] = int(md.get(sc.PMD_SPM_LVER, -1))
            info["spm_id"] = int(md.get(sc.PMD_SPM_ID, -1))
            info["master_ver"] = int(md.get(sc.PMD_MASTER_VERSION, 0))
        return info

    def metadata_device(self) -> str:
        """The device of the metadata LV's first extent (classic: its GUID)."""
        devices = self.vg.lvm.lv(self.sd_uuid, tags.METADATA).devices
        return os.path.basename(devices[0].split("(")[0]) if devices else ""

    def vg_metadata_device(self) -> str:
        """The PV holding the VG's metadata (createVG puts it on one PV)."""
        for pv in self.vg.lvm.vg_pvs(self.sd_uuid):
            if pv.mda_used_count:
                return os.path.basename(pv.name)
        return ""

    def stats(self) -> dict[str, Any]:
        try:
            vg = self.vg.lvm.vg(self.sd_uuid)
        except VolumeGroupDoesNotExist:
            raise self._gone() from None
        return {"disktotal": str(vg.size), "diskfree": str(vg.free),
                "mdasize": vg.mda_size, "mdafree": vg.mda_free,
                "mdavalid": vg.mda_size >= VG_METADATA_SIZE // 2,
                "mdathreshold": vg.mda_free >= vg.mda_size * MDA_MIN_FREE}

    def check(self) -> float:
        """A direct read of the metadata LV's first block, timed. Every
        ``refresh_interval`` seconds it also drops the VG's cached reports,
        so the monitor of a host that is not the SPM sees the SPM's changes
        (metadata, free space) that late at most."""
        start = time.monotonic()
        if start - self._refreshed >= self.refresh_interval:
            self.invalidate()
            self._refreshed = start
        try:
            self.vg.ops.read_block(self.md_path, 0, CHECK_SIZE)
        except FileNotFoundError:
            raise StorageDomainDoesNotExist(
                f"Storage domain metadata LV missing: {self.sd_uuid}") from None
        return time.monotonic() - start

    def format(self) -> None:
        """Remove the VG with every LV, and this host's links."""
        self.release_master_dir()
        self.vg.lvm.vgremove(self.sd_uuid)
        self._remove_host_dir()
        log.info("formatted (removed) block domain %s", self.sd_uuid)

    def _remove_host_dir(self) -> None:
        try:
            self.vg.ops.rmtree(self.domain_dir)
        except FileNotFoundError:
            pass

    # --- images and volumes -------------------------------------------------
    def _volume_lvs(self) -> list[tuple[LV, tags.VolumeTags]]:
        try:
            lvs = self.vg.lvm.lvs(self.sd_uuid)
        except VolumeGroupDoesNotExist:
            raise self._gone() from None
        return [(lv, tags.parse_volume_tags(lv.tags)) for lv in lvs
                if lv.name not in SPECIAL_LVS]

    def images(self) -> list[str]:
        found = {vt.image for _, vt in self._volume_lvs() if vt.image}
        return sorted(i for i in found if not i.startswith(sc.REMOVED_IMAGE_PREFIX))

    def volumes(self, img_uuid: str | None = None) -> list[str]:
        return sorted(lv.name for lv, vt in self._volume_lvs()
                      if vt.image and not vt.image.startswith(sc.REMOVED_IMAGE_PREFIX)
                      and (img_uuid is None or vt.image == img_uuid))

    def volume(self, img_uuid: str, vol_uuid: str) -> BlockVolume:
        if vol_uuid not in self.volumes(img_uuid):
            raise VolumeDoesNotExist(f"Volume does not exist: {vol_uuid}",
                                     volume=vol_uuid)
        return self.new_volume(img_uuid, vol_uuid)

    def new_volume(self, img_uuid: str, vol_uuid: str) -> BlockVolume:
        return BlockVolume(self.sd_uuid, img_uuid, vol_uuid, vg=self.vg)

    def image_path(self, img_uuid: str) -> str:
        return os.path.join(self.domain_dir, sc.DOMAIN_IMAGES, img_uuid)

    def create_image(self, img_uuid: str) -> bool:
        """The image's directory of links; an image exists through its
        volumes' tags, so it is "created" when it has none yet."""
        created = img_uuid not in self.images()
        self.vg.ops.makedirs(self.image_path(img_uuid), DIR_MODE)
        return created

    def link_image(self, img_uuid: str, vol_uuids: list[str]) -> None:
        """``images/<img>/<vol>`` -> the volume's LV on this host, for each
        volume (the classic linkBCImage): any host, not only the SPM that
        made the image, may prepare it. Idempotent; raises OSError."""
        image_dir = self.image_path(img_uuid)
        self.vg.ops.makedirs(image_dir, DIR_MODE)
        for vol_uuid in vol_uuids:
            self.vg.ops.symlink(self.vg.lv_path(vol_uuid),
                                os.path.join(image_dir, vol_uuid))

    def remove_image_if_empty(self, img_uuid: str) -> None:
        if not self.volumes(img_uuid):
            try:
                self.vg.ops.rmtree(self.image_path(img_uuid))
            except FileNotFoundError:
                pass

    def delete_image(self, img_uuid: str) -> None:
        """First every LV is retagged to the removed image (out of sight
        of images()), then removed."""
        lvs = [lv for lv, vt in self._volume_lvs() if vt.image == img_uuid]
        if not lvs:
            raise ImageDoesNotExistInSD(
                f"Image {img_uuid} does not exist in domain {self.sd_uuid}")
        hidden = tags.IMAGE_PREFIX + sc.REMOVED_IMAGE_PREFIX + img_uuid
        for lv in lvs:
            self.vg.lvm.change_lv_tags(self.sd_uuid, lv.name, add=[hidden],
                                       delete=[tags.IMAGE_PREFIX + img_uuid])
        for lv in lvs:
            self.vg.lvm.lvremove(self.sd_uuid, lv.name)
        try:
            self.vg.ops.rmtree(self.image_path(img_uuid))
        except FileNotFoundError:
            pass
        log.info("deleted image %s of domain %s", img_uuid, self.sd_uuid)

    def extend_volume_lv(self, vol_uuid: str, size: int) -> int:
        """Grow a volume's LV to at least ``size`` bytes (the SPM, for a
        mailbox request; applied once if asked twice). Returns the LV's
        size. Raises VolumeDoesNotExist and BlockVolume.extend_lv's errors."""
        self.invalidate()
        img_uuid = next((vt.image for lv, vt in self._volume_lvs()
                         if lv.name == vol_uuid and vt.image), None)
        if img_uuid is None:
            raise VolumeDoesNotExist(f"Volume does not exist: {vol_uuid}",
                                     volume=vol_uuid)
        return self.new_volume(img_uuid, vol_uuid).extend_lv(size)

    def refresh_volume(self, img_uuid: str, vol_uuid: str) -> None:
        """See the size the SPM gave the LV (growth.refresh_volume)."""
        growth.refresh_volume(self.vg, img_uuid, vol_uuid)

    def _gone(self) -> StorageDomainDoesNotExist:
        return StorageDomainDoesNotExist(
            f"Storage domain does not exist: {self.sd_uuid}")


def _factory(sd_uuid: str, *, ctx: StorageContext) -> BlockStorageDomain:
    return BlockStorageDomain.from_context(ctx, sd_uuid)


register_backend(sc.BLOCK_DOMAIN_TYPES, _factory)
