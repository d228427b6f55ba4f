"""Growing a block domain: new LUNs (extendStorageDomain), a LUN that grew
(resizePV), and an LV another host extended (refreshVolume).

Everything works on the domain's VG through its :class:`.vgaccess.VGAccess`
and the domain metadata in the VG's ``MDT_`` tags, so any block domain
object exposing ``vg`` serves. The PV mapping (``PV0``, ``PV1``... see
:func:`.layout.pv_mapping`) keeps every entry as first written, as the
classic agent did: a new PV gets the next key with ``mapoffset`` the
previous entry's offset plus its ``pecount``; resizePV rewrites only the
grown PV's ``pecount``. Offsets never move (nothing reads them back but
people), and entries of PVs LVM does not show now (a LUN gone) stay.

Metadata changes of one VG are serialised on this host by a lock per VG;
across hosts only the SPM runs them (the caller checks).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence

from vdsm.storage import lvm_errors
from vdsm.storage.blockdevs import BlockStorage, Listing
from vdsm.storage.devices.errors import InaccessiblePhysDev
from vdsm.storage.domains.block import layout, tags
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.domains.metadata import Metadata
from vdsm.storage.errors import VolumeDoesNotExist
from vdsm.storage.lvm_report import PV

log = logging.getLogger(__name__)

SUPPORTED_BLOCK_SIZES = (512, 4096)
LV_WAIT_TIMEOUT = 10.0     # seconds for an LV's path to show its new size
_POLL = 0.05
_PV_KEY = re.compile(rf"^{layout.PV_KEY_PREFIX}(\d+)$")

_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _vg_lock(sd_uuid: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(sd_uuid, threading.Lock())


def _no_guard() -> None:
    return None


# --- the PV mapping, pure --------------------------------------------------

def guid_of(pv_name: str) -> str:
    """The mapping's ``pv`` of a PV: its device name without directories."""
    return pv_name.rsplit("/", 1)[-1]


def updated_mapping(md: Metadata, pvs: Sequence[PV], *,
                    resized: Sequence[str] = ()) -> Metadata:
    """``md`` with PVs of ``pvs`` not yet mapped appended (next keys,
    classic offsets) and the ``pecount`` of the ``resized`` GUIDs updated.

    Raises MetaDataValidationError for a malformed ``PVn`` value."""
    entries = {int(m.group(1)): layout.decode_pv_info(value)
               for key, value in md.items() if (m := _PV_KEY.match(key))}
    by_guid = {info["guid"]: n for n, info in entries.items()}
    new = dict(md)
    for pv in pvs:
        guid = guid_of(pv.name)
        n = by_guid.get(guid)
        if n is not None:
            if guid in resized:
                info = entries[n]
                new[f"{layout.PV_KEY_PREFIX}{n}"] = layout.encode_pv_info(
                    guid, info["uuid"], pv.pe_count, int(info["mapoffset"]))
            continue
        last = max(entries, default=None)
        offset = 0 if last is None else (int(entries[last]["mapoffset"])
                                         + int(entries[last]["pecount"]))
        n = 0 if last is None else last + 1
        entries[n] = {"guid": guid, "uuid": pv.uuid, "pestart": "0",
                      "pecount": str(pv.pe_count), "mapoffset": str(offset)}
        by_guid[guid] = n
        new[f"{layout.PV_KEY_PREFIX}{n}"] = layout.encode_pv_info(
            guid, pv.uuid, pv.pe_count, offset)
    return new


# --- metadata in the VG's tags ----------------------------------------------

def _read_metadata(vg: VGAccess) -> tuple[tuple[str, ...], Metadata]:
    """The VG's tags and the domain metadata in them (checksum checked)."""
    vg.lvm.invalidate(vg.sd_uuid)
    current = vg.lvm.vg(vg.sd_uuid).tags
    return current, tags.parse_domain_tags(current, source=f"VG {vg.sd_uuid} tags")


def _write_mapping(vg: VGAccess, *, resized: Sequence[str] = ()) -> None:
    current, md = _read_metadata(vg)
    new = updated_mapping(md, vg.lvm.vg_pvs(vg.sd_uuid), resized=resized)
    delete, add = tags.tag_changes(current, new)
    if delete or add:
        vg.lvm.change_vg_tags(vg.sd_uuid, add=add, delete=delete)


def _undo(what: str, step: Callable[[], None]) -> None:
    """Run one undo step; its failure is logged, the original error wins."""
    try:
        step()
    except Exception:
        log.exception("undo failed: %s (left for the administrator)", what)


# --- extendStorageDomain ------------------------------------------------------

def _check_block_sizes(vg: VGAccess, listing: Listing, guids: Sequence[str]) -> None:
    """Raises DeviceBlockSizeError, VolumeGroupBlockSizeError."""
    sizes = {listing.devices[g].logical_block_size for g in guids}
    bad = sorted(sizes - set(SUPPORTED_BLOCK_SIZES))
    if bad:
        raise lvm_errors.DeviceBlockSizeError(f"logical block size {bad[0]} is not "
                                              f"one of {SUPPORTED_BLOCK_SIZES}")
    for name in vg.lvm.vg(vg.sd_uuid).pv_names:
        guid = listing.guid_of(name)
        if guid is not None:
            sizes.add(listing.devices[guid].logical_block_size)
    if len(sizes) > 1:
        raise lvm_errors.VolumeGroupBlockSizeError(
            f"domain {vg.sd_uuid} would mix logical block sizes {sorted(sizes)}")


def extend_domain(vg: VGAccess, blocks: BlockStorage, guids: Sequence[str], *,
                  force: bool = False, guard: Callable[[], None] = _no_guard) -> None:
    """Add LUNs to the domain's VG and its PV mapping, all or nothing.

    ``guard`` runs before each change (the SPM check). Raises
    InaccessiblePhysDev (a GUID this host does not list),
    PhysDevInitializationError (a LUN in use, a PV of another VG without
    ``force``, or already this domain's), DeviceBlockSizeError,
    VolumeGroupBlockSizeError, MetaDataValidationError (bad domain tags),
    VolumeGroupExtendError and what the guard raises; a LUN made a PV is
    made plain again (pvremove) when a later step fails.
    """
    wanted = list(dict.fromkeys(guids))
    if not wanted:
        raise lvm_errors.VolumeGroupExtendError("no devices to extend with")
    sd_uuid = vg.sd_uuid
    with _vg_lock(sd_uuid):
        _read_metadata(vg)     # refuse a domain whose metadata is broken first
        listing = blocks.listing()
        own_uuid = vg.lvm.vg(sd_uuid).uuid
        listing.check_unused(wanted, force=force)
        mine = [g for g in wanted if listing.vg_uuid_of(g) == own_uuid]
        if mine:
            raise lvm_errors.PhysDevInitializationError(
                f"device(s) {mine[:10]} already in domain {sd_uuid}")
        _check_block_sizes(vg, listing, wanted)
        paths = [listing.nodes[g] for g in wanted]
        was_pv = {p for p, (_, vg_uuid, _) in listing.pv_map().items() if not vg_uuid}
        log.info("extending domain %s with %s (force=%s)", sd_uuid, wanted, force)
        guard()
        try:
            vg.lvm.pvcreate(paths, metadata_ignore=True, force=force)
        except Exception:
            _undo("pvremove", lambda: _remove_new_pvs(vg, paths, was_pv))
            raise
        try:
            guard()
            vg.lvm.vgextend(sd_uuid, paths)
        except Exception:
            _undo("pvremove", lambda: _remove_new_pvs(vg, paths, was_pv))
            raise
        try:
            guard()
            _write_mapping(vg)
        except Exception:
            _undo(f"vgreduce {sd_uuid}", lambda: vg.lvm.vgreduce(sd_uuid, paths))
            _undo("pvremove", lambda: _remove_new_pvs(vg, paths, was_pv))
            raise


def _remove_new_pvs(vg: VGAccess, paths: Sequence[str], was_pv: set[str]) -> None:
    """pvremove the devices pvcreate made PVs (in no VG, not PVs before)."""
    made = [pv.name for pv in vg.lvm.pvs(paths)
            if not pv.vg_name and pv.name in paths and pv.name not in was_pv]
    if made:
        vg.lvm.pvremove(made)


# --- resizePV -------------------------------------------------------------------

def resize_pv(vg: VGAccess, blocks: BlockStorage, guid: str, *,
              guard: Callable[[], None] = _no_guard) -> int:
    """Grow a PV of the domain to its LUN's size; answer the PV's new size
    in bytes (classic: LVM's pv_size after the resize).

    Raises InaccessiblePhysDev (not listed), CouldNotResizePhysicalVolume
    (not a PV of this domain, or pvresize failed), MetaDataValidationError
    and what the guard raises.
    """
    sd_uuid = vg.sd_uuid
    with _vg_lock(sd_uuid):
        _read_metadata(vg)
        listing = blocks.listing()
        if guid not in listing.devices:
            raise InaccessiblePhysDev(
                f"Multipath cannot access physical device(s): {[guid]}")
        names = [n for n in vg.lvm.vg(sd_uuid).pv_names if listing.guid_of(n) == guid]
        if not names:
            raise lvm_errors.CouldNotResizePhysicalVolume(
                f"device {guid} is not a PV of domain {sd_uuid}")
        guard()
        vg.lvm.pvresize(sd_uuid, names)
        guard()
        _write_mapping(vg, resized=[guid_of(n) for n in names])
        (pv,) = [p for p in vg.lvm.vg_pvs(sd_uuid) if p.name == names[0]]
        log.info("PV %s of domain %s is now %d bytes, %d extents", guid, sd_uuid,
                 pv.size, pv.pe_count)
        return pv.size


# --- refreshVolume -------------------------------------------------------------

def refresh_volume(vg: VGAccess, img_uuid: str, vol_uuid: str, *,
                   timeout: float = LV_WAIT_TIMEOUT) -> None:
    """See the size another host (the SPM) gave a volume's LV.

    The VG's cached reports are dropped and the LV read again; with
    activation an active LV's table is reloaded (``lvchange --refresh``),
    an inactive one has nothing to reload. Then its path must show the
    LV's size within ``timeout`` (udev and device-mapper on real hosts;
    without activation whatever serves ``lv_dir``, which must be there).
    Raises VolumeDoesNotExist (no such LV in that image) and
    LogicalVolumeRefreshError (refresh failed, or the size never showed).
    """
    vg.lvm.invalidate(vg.sd_uuid)
    try:
        lv = vg.lvm.lv(vg.sd_uuid, vol_uuid)
    except lvm_errors.LogicalVolumeDoesNotExistError:
        raise VolumeDoesNotExist(f"Volume {vol_uuid} does not exist in domain "
                                 f"{vg.sd_uuid}") from None
    if tags.parse_volume_tags(lv.tags).image != img_uuid:
        raise VolumeDoesNotExist(f"Volume {vol_uuid} is not in image {img_uuid}")
    if vg.activation:
        vg.lvm.refresh(vg.sd_uuid, vol_uuid)
        if not lv.active:
            log.info("refresh %s/%s: not active on this host", vg.sd_uuid, vol_uuid)
            return
    wait_lv_size(vg.lv_path(vol_uuid), lv.size, timeout)
    log.info("refreshed %s/%s: %d bytes", vg.sd_uuid, vol_uuid, lv.size)


def lv_size(path: str) -> int | None:
    """The size ``path`` shows (block device or file), None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def wait_lv_size(path: str, size: int, timeout: float) -> None:
    """Wait until ``path`` shows ``size`` bytes.
    Raises LogicalVolumeRefreshError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        shown = lv_size(path)
        if shown == size:
            return
        if time.monotonic() >= deadline:
            raise lvm_errors.LogicalVolumeRefreshError(
                f"{path} shows {shown if shown is not None else 'no device'}, "
                f"not the LV's {size} bytes, after {timeout:g} s")
        time.sleep(_POLL)
