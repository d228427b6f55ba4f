"""Volumes of block domains: one LV each, metadata in a slot, lease in ``leases``.

A volume is the LV ``<VG>/<vol_uuid>`` tagged ``IU_<image>``,
``PU_<parent>`` and ``MD_<slot>`` (:mod:`.tags`); its metadata record is
block ``slot`` of the ``metadata`` LV (:mod:`.volume_md`), read and written
with direct I/O; its lease is a sanlock resource in the ``leases`` LV at
``(RESERVED_LEASES + slot) * alignment``, as the classic agent put it.

Creation, all or nothing: the LV is created with its tags and
``OVIRT_VOL_INITIALIZING`` (so a creation that crashed is recognisable and
its LV, never taken for a volume, is removed by the next SPM's recovery),
then the data (qcow2 header) and the metadata slot are written, and the
tag is dropped last. A failure removes the LV again and clears the slot.
A new volume's slot is the lowest not named by any LV's ``MD_`` tag,
chosen and claimed (by the lvcreate that carries the tag) under a lock
per VG, so two creations never share one.

The SPM jobs (:mod:`vdsm.storage.volumes`) write a new volume's ILLEGAL
metadata before :meth:`BlockVolume.create_data`; a block volume gets its
slot with its LV, so that first write is kept and made by create_data.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from vdsm.storage import constants as sc
from vdsm.storage import qemuimg
from vdsm.storage.domains.block import tags, volume_md
from vdsm.storage.domains.block.activation import Activations, host_activations
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.domains.file.volume import COW, RAW, qemu_format
from vdsm.storage.domains.volume import Volume, VolumeMetadata
from vdsm.storage.errors import (
    IncorrectFormat,
    VolumeCreationError,
    VolumeDoesNotExist,
    VolumeExtendingError,
)
from vdsm.storage.lvm import LV
from vdsm.storage.lvm_errors import LogicalVolumeDoesNotExistError

log = logging.getLogger(__name__)

MIB = 1024 * 1024
PAGE = 4096                        # direct I/O unit of FileOps.read/write_block
QCOW_OVERHEAD_FACTOR = 1.1         # classic: an initial size grows by this
RESERVED_LEASES = 100              # leases LV slots before the volumes' (classic)
_SLOT_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_MD_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def lease_offset(slot: int, alignment: int = sc.ALIGNMENT) -> int:
    """Offset of a volume's lease in the ``leases`` LV (classic)."""
    return (RESERVED_LEASES + slot) * alignment


def round_up(size: int, unit: int) -> int:
    return -(-size // unit) * unit


def alloc_size(md: VolumeMetadata, *, preallocate: bool, chunk_size: int,
               initial_size: int | None = None) -> int:
    """Bytes of a new volume's LV, the classic way: RAW or preallocated
    COW the capacity (a preallocated COW its initial size if given); a
    sparse COW its initial size plus qcow2 overhead, else one chunk (at
    most the capacity). Whole MiB, as lvcreate takes whole sectors only
    (an initial size from qemu-img measure is any byte count)."""
    if md.format == RAW:
        size = md.capacity
    elif not preallocate and initial_size:
        size = int(initial_size * QCOW_OVERHEAD_FACTOR)
    elif preallocate:
        size = initial_size or md.capacity
    else:
        size = min(chunk_size, md.capacity)
    return round_up(size, MIB)


class BlockVolume(Volume):
    needs_initial_size = True

    def __init__(self, sd_uuid: str, img_uuid: str, vol_uuid: str, *,
                 vg: VGAccess) -> None:
        super().__init__(sd_uuid, img_uuid, vol_uuid)
        self.vg = vg
        self.activations: Activations = host_activations()

    @property
    def path(self) -> str:
        return self.vg.lv_path(self.vol_uuid)

    @property
    def lease(self) -> tuple[str, int]:
        return self.vg.lv_path(tags.LEASES), lease_offset(self.slot())

    def _lv(self) -> LV:
        try:
            return self.vg.lvm.lv(self.sd_uuid, self.vol_uuid)
        except LogicalVolumeDoesNotExistError:
            raise VolumeDoesNotExist(f"Volume does not exist: {self.vol_uuid}",
                                     volume=self.vol_uuid) from None

    def exists(self) -> bool:
        return any(lv.name == self.vol_uuid
                   for lv in self.vg.lvm.lvs(self.sd_uuid))

    def slot(self) -> int:
        """The metadata slot (VolumeDoesNotExist; MetaDataValidationError
        for an LV without an ``MD_`` tag)."""
        found = tags.parse_volume_tags(self._lv().tags).slot
        if found is None:
            raise VolumeDoesNotExist(f"Volume {self.vol_uuid} has no MD_ tag",
                                     volume=self.vol_uuid)
        return found

    def parent_uuid(self) -> str:
        """The parent from the LV's ``PU_`` tag (BLANK_UUID for a base)."""
        return tags.parse_volume_tags(self._lv().tags).parent or sc.BLANK_UUID

    # Metadata slot.

    def metadata(self) -> VolumeMetadata:
        parsed = tags.parse_volume_tags(self._lv().tags)
        if parsed.initializing or parsed.slot is None:
            raise VolumeDoesNotExist(f"Volume {self.vol_uuid} is being created",
                                     volume=self.vol_uuid)
        source = f"{self.sd_uuid}/metadata slot {parsed.slot}"
        block = self._read_slot(parsed.slot)
        if volume_md.decode(block, source=source) is None:
            raise VolumeDoesNotExist(f"Metadata slot {parsed.slot} of "
                                     f"{self.vol_uuid} is empty",
                                     volume=self.vol_uuid)
        return VolumeMetadata.parse(block.rstrip(b"\0"), source=source)

    def write_metadata(self, md: VolumeMetadata) -> None:
        if not self.exists():
            log.info("volume %s has no LV yet: its metadata is written with "
                     "its data", self.vol_uuid)
            return
        self._write_slot(self.slot(), volume_md.encode(md.to_md()))

    def _slot_io(self, slot: int) -> tuple[str, int, int]:
        """(metadata LV path, page offset, offset of the slot in the page)."""
        offset = volume_md.slot_offset(slot, self.vg.version)
        page = offset - offset % PAGE
        return self.vg.lv_path(tags.METADATA), page, offset - page

    def _read_slot(self, slot: int) -> bytes:
        path, page, start = self._slot_io(slot)
        data = self.vg.ops.read_block(path, page, PAGE)
        return data[start:start + volume_md.BLOCK_SIZE]

    def _write_slot(self, slot: int, block: bytes) -> None:
        path, page, start = self._slot_io(slot)
        if start == 0 and self.vg.version >= 5:   # the page is the slot's own
            self.vg.ops.write_block(path, page, block.ljust(PAGE, b"\0"))
            return
        with _MD_LOCKS[self.sd_uuid]:       # format 4: 8 slots share a page
            data = bytearray(self.vg.ops.read_block(path, page, PAGE))
            data[start:start + len(block)] = block
            self.vg.ops.write_block(path, page, bytes(data))

    # Creation and removal.

    def create_data(self, md: VolumeMetadata, *, parent: Volume | None,
                    preallocate: bool, initial_size: int | None = None,
                    check_parent: bool = True) -> None:
        """The LV (tagged, INITIALIZING), its qcow2 header for COW, the
        metadata slot written with ``md``; INITIALIZING dropped last.
        Raises IncorrectFormat, VolumeCreationError, the LVM errors of
        lvcreate (VolumeGroupSizeError...), MetadataOverflowError."""
        if md.format == RAW and parent is not None:
            raise IncorrectFormat("A RAW volume cannot have a parent")
        size = alloc_size(md, preallocate=preallocate,
                          chunk_size=self.vg.chunk_size, initial_size=initial_size)
        parent_uuid = parent.vol_uuid if parent is not None else sc.BLANK_UUID
        slot = self._create_lv(size, parent_uuid)
        try:
            if md.format == COW:
                self._create_qcow2(md, parent, check_parent=check_parent)
            self._write_slot(slot, volume_md.encode(md.to_md()))
            self.vg.lvm.change_lv_tags(self.sd_uuid, self.vol_uuid,
                                       delete=[tags.UNINIT_TAG])
        except BaseException:
            log.warning("creation of %s failed: removing its LV", self.vol_uuid)
            self._undo_create(slot)
            raise
        log.info("created LV %s/%s (%s, %d bytes, slot %d)", self.sd_uuid,
                 self.vol_uuid, md.format, size, slot)

    def _create_lv(self, size: int, parent_uuid: str) -> int:
        with _SLOT_LOCKS[self.sd_uuid]:
            used = [tags.parse_volume_tags(lv.tags).slot
                    for lv in self.vg.lvm.lvs(self.sd_uuid)]
            slot = volume_md.free_slot((s for s in used if s is not None),
                                       self.vg.version)
            self.vg.lvm.lvcreate(self.sd_uuid, self.vol_uuid, size, tags=[
                *tags.volume_tags(self.img_uuid, parent_uuid, slot,
                                  initializing=True)])
        return slot

    def _create_qcow2(self, md: VolumeMetadata, parent: Volume | None, *,
                      check_parent: bool = True) -> None:
        chain = [self.vol_uuid]
        backing = backing_format = None
        if parent is not None:
            backing = parent.vol_uuid       # relative to the VG's directory
            backing_format = qemu_format(parent.metadata().format)
            chain = [*_chain(self.vg, parent.vol_uuid), self.vol_uuid]
        self.activations.acquire(self.vg, chain)
        try:
            qemuimg.create(self.path, size=md.capacity, fmt=qemuimg.QCOW2,
                           backing=backing, backing_format=backing_format,
                           cwd=self.vg.lv_path(""), check_backing=check_parent)
        except qemuimg.QemuImgError as e:
            raise VolumeCreationError(f"Cannot create {self.vol_uuid}: "
                                      f"{e.message}") from None
        finally:
            self.activations.release(self.vg, list(reversed(chain)))

    def _undo_create(self, slot: int) -> None:
        """Classic half-baked rollback: the LV goes only while INITIALIZING."""
        try:
            if tags.UNINIT_TAG in self._lv().tags:
                self.vg.lvm.lvremove(self.sd_uuid, self.vol_uuid)
                self._write_slot(slot, bytes(volume_md.BLOCK_SIZE))
        except Exception:
            log.exception("cannot undo the creation of %s; the next SPM's "
                          "recovery removes it", self.vol_uuid)

    def create_lease(self) -> None:
        path, offset = self.lease
        self.vg.leases.init_resource(self.sd_uuid, self.vol_uuid, path, offset)

    def remove(self) -> None:
        """lvremove, then the slot cleared (metadata last); idempotent."""
        try:
            slot = tags.parse_volume_tags(self._lv().tags).slot
        except VolumeDoesNotExist:
            log.info("volume %s/%s has no LV: nothing to remove", self.sd_uuid,
                     self.vol_uuid)
            return
        self.vg.lvm.lvremove(self.sd_uuid, self.vol_uuid)
        if slot is not None:
            self._write_slot(slot, bytes(volume_md.BLOCK_SIZE))
        log.info("removed volume %s/%s/%s (slot %s)", self.sd_uuid,
                 self.img_uuid, self.vol_uuid, slot)

    # Sizes.

    def size(self) -> dict[str, int]:
        """Both sizes are the LV's, as classic block volumes report."""
        size = self._lv().size
        return {"apparentsize": size, "truesize": size}

    def extend(self, new_capacity: int, md: VolumeMetadata) -> None:
        """The virtual size: lvextend for RAW, qemu-img resize for COW (the
        LV is activated for it). Raises VolumeExtendingError."""
        if md.format == RAW:
            self.extend_lv(new_capacity)
            return
        self.prepare()
        try:
            qemuimg.resize(self.path, new_capacity, fmt=qemuimg.QCOW2)
        except qemuimg.QemuImgError as e:
            raise VolumeExtendingError(f"Cannot extend {self.vol_uuid}: "
                                       f"{e.message}") from None
        finally:
            self.teardown()

    def extend_lv(self, size: int) -> int:
        """Grow the LV to at least ``size`` bytes, in whole extents; never
        shrinks, and a size already reached is a no-op (a mailbox request
        may come twice). Returns the LV size. Raises VolumeGroupSizeError,
        LogicalVolumeExtendError, VolumeDoesNotExist."""
        extent = self.vg.lvm.vg(self.sd_uuid).extent_size
        wanted = round_up(size, extent)
        current = self._lv().size
        if wanted <= current:
            log.info("LV %s/%s has %d bytes, asked %d: nothing to do",
                     self.sd_uuid, self.vol_uuid, current, size)
            return current
        self.vg.lvm.lvextend(self.sd_uuid, self.vol_uuid, wanted)
        log.info("extended %s/%s to %d bytes", self.sd_uuid, self.vol_uuid, wanted)
        return wanted

    # Use on this host.

    def prepare(self) -> None:
        """Activate the LV and its parents' (the chain, base first)."""
        self.activations.acquire(self.vg, _chain(self.vg, self.vol_uuid))

    def teardown(self) -> None:
        """Release what prepare took (the leaf first)."""
        self.activations.release(self.vg,
                                 list(reversed(_chain(self.vg, self.vol_uuid))))

    def refresh(self) -> int:
        """See the LV's new size after the SPM extended it; returns it."""
        return self.activations.refresh(self.vg, self.vol_uuid)


def _chain(vg: VGAccess, vol_uuid: str) -> list[str]:
    """UUIDs from the base up to ``vol_uuid``, from the LVs' ``PU_`` tags
    (a template's LV is in the same VG). Raises VolumeDoesNotExist for a
    missing parent LV."""
    result: list[str] = []
    current = vol_uuid
    while current != sc.BLANK_UUID and current not in result:
        result.append(current)
        try:
            lv = vg.lvm.lv(vg.sd_uuid, current)
        except LogicalVolumeDoesNotExistError:
            raise VolumeDoesNotExist(f"Volume does not exist: {current}",
                                     volume=current) from None
        current = tags.parse_volume_tags(lv.tags).parent or sc.BLANK_UUID
    return list(reversed(result))
