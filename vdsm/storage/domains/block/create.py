"""createStorageDomain for block types: a VG from createVG becomes a domain.

All or nothing: every step that changes the VG registers its undo, and a
failure anywhere runs them newest first, so the VG is left as createVG
made it (no LV, only the ``_UNREADY`` tag). The order is the classic one
(:mod:`.layout`): the special LVs, zeroing, the lockspace and SPM lease,
the master file system, the ``MDT_`` metadata tags, and last the ready
tag, so a VG whose creation did not finish is never taken for a domain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from vdsm.common.errors import VdsmError
from vdsm.storage import constants as sc
from vdsm.storage.blockdevs import BlockStorage
from vdsm.storage.context import StorageContext
from vdsm.storage.domains.block import layout, tags
from vdsm.storage.domains.block.domain import BlockStorageDomain
from vdsm.storage.domains.block.errors import (
    StorageDomainNotEmpty,
    VolumeGroupHasDomainTag,
    VolumesZeroingError,
)
from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.errors import StorageDomainCreationError
from vdsm.storage.lvm_errors import VolumeGroupSizeError
from vdsm.storage.lvm_report import VG

log = logging.getLogger(__name__)

LV_WAIT_TIMEOUT = 30.0       # for a new LV's path to appear (udev settle)
ZERO_CHUNK = sc.MiB


class Reverter:
    """Undo actions, run newest first on failure; an undo that fails is
    logged and the others still run."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], Any]]] = []

    def add(self, what: str, undo: Callable[[], Any]) -> None:
        self._undo.append((what, undo))

    def revert(self) -> None:
        for what, undo in reversed(self._undo):
            try:
                undo()
            except (OSError, VdsmError) as e:
                log.error("undo failed (%s): %s", what, e)
        self._undo.clear()


def find_vg(ctx: StorageContext, vg_uuid: str) -> VG:
    """The VG with this UUID among the host's listed devices, its PVs
    known to ctx.lvm. Raises VolumeGroupDoesNotExist (also when a PV of
    it is missing)."""
    storage = BlockStorage(ctx.lvm, include_loop=bool(ctx.setting("list_loop_devices")))
    vg = storage.listing().vg_by_uuid(vg_uuid)
    ctx.lvm.set_devices(vg.name, vg.pv_names)
    return ctx.lvm.vg(vg.name)


def create_domain(ctx: StorageContext, *, sd_uuid: str, name: str, dom_type: int,
                  dom_class: int, version: int, vg_uuid: str,
                  lv_wait: float = LV_WAIT_TIMEOUT) -> BlockStorageDomain:
    """Turn VG ``vg_uuid`` (named ``sd_uuid``, made by createVG) into a domain.

    Raises VolumeGroupDoesNotExist, StorageDomainCreationError (a VG named
    otherwise, a failed step), VolumeGroupHasDomainTag, StorageDomainNotEmpty,
    VolumeGroupSizeError, VolumesZeroingError, the metadata errors of
    new_metadata, LVM and lease errors; nothing is left changed then.
    """
    vg = find_vg(ctx, vg_uuid)
    if vg.name != sd_uuid:
        raise StorageDomainCreationError(
            f"VG {vg_uuid} is named {vg.name}, not after domain {sd_uuid}")
    if set(vg.tags) != {tags.UNREADY_DOMAIN_TAG}:
        raise VolumeGroupHasDomainTag(f"VG {vg_uuid} tags: {sorted(vg.tags)[:5]}")
    if vg.lv_count:
        raise StorageDomainNotEmpty(f"VG {vg_uuid} has {vg.lv_count} LVs")
    lvm = ctx.lvm
    pvs = lvm.vg_pvs(sd_uuid)
    first_pv = next((pv.name for pv in pvs if pv.mda_used_count), vg.pv_names[0])
    md = layout.initial_metadata(
        sd_uuid=sd_uuid, name=name, dom_type=dom_type, dom_class=dom_class,
        version=version, vg_uuid=vg.uuid, mapping=layout.pv_mapping(pvs, first_pv))
    md_tags = tags.domain_tags(md)
    special = layout.special_lvs(version)
    needed = layout.extents_needed(special, vg.extent_size)
    if needed > vg.free_count:
        raise VolumeGroupSizeError(f"VG {sd_uuid} has {vg.free_count} free extents, "
                                   f"a domain needs {needed}")
    fresh = not ctx.has_file_ops(sd_uuid)
    access = VGAccess.from_context(ctx, sd_uuid, lvm=lvm, version=version)
    reverter = Reverter()
    if fresh:   # no domain object holds this I/O helper yet
        reverter.add("I/O helper", lambda: ctx.release_file_ops(sd_uuid))
    try:
        _build(ctx, access, special, md_tags, reverter, lv_wait)
    except BaseException:
        log.warning("creating block domain %s failed: undoing", sd_uuid)
        reverter.revert()
        raise
    log.info("created block domain %s (%s) on VG %s", sd_uuid, name, vg_uuid)
    return BlockStorageDomain(sd_uuid, vg=access, mount_root=ctx.mount_root,
                              privileged=ctx.supervdsm)


def _build(ctx: StorageContext, access: VGAccess, special: list[layout.SpecialLV],
           md_tags: list[str], reverter: Reverter, lv_wait: float) -> None:
    lvm, vg = access.lvm, access.sd_uuid
    for lv in special:
        lvm.lvcreate(vg, lv.name, lv.size)
        reverter.add(f"lvremove {lv.name}", lambda n=lv.name: lvm.lvremove(vg, n))
        if access.activation:
            lvm.activate(vg, lv.name)
            reverter.add(f"deactivate {lv.name}",
                         lambda n=lv.name: lvm.deactivate(vg, n))
    wait_for_paths(access, [lv.name for lv in special], lv_wait)
    for lv in special:
        if lv.zero:
            zero(access, lv.name, lv.zero)
    ctx.leases.init_lockspace(vg, access.lv_path(tags.IDS))
    ctx.leases.init_resource(vg, sc.SDM_LEASE_NAME, access.lv_path(tags.LEASES),
                             sc.SDM_LEASE_OFFSET)
    ctx.supervdsm.call("mkfs_master", vg=vg)
    if access.activation:
        lvm.deactivate(vg, tags.MASTER)
    lvm.change_vg_tags(vg, add=md_tags)
    reverter.add("MDT_ tags", lambda: lvm.change_vg_tags(vg, delete=md_tags))
    delete, add = layout.READY_TAG_CHANGE
    lvm.change_vg_tags(vg, delete=delete, add=add)


def wait_for_paths(access: VGAccess, lvs: list[str], timeout: float) -> None:
    """Wait, bounded, until every LV's path exists (udev on real hosts).
    Raises StorageDomainCreationError naming the LVs still missing."""
    deadline = time.monotonic() + timeout
    missing = list(lvs)
    while True:
        missing = [lv for lv in missing if not access.ops.exists(access.lv_path(lv))]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if missing:
        raise StorageDomainCreationError(
            f"LVs of {access.sd_uuid} did not appear under {access.lv_dir} "
            f"within {timeout:g} s: {missing}")


def zero(access: VGAccess, lv: str, size: int) -> None:
    """Zero the first ``size`` bytes of an LV by direct I/O.
    Raises VolumesZeroingError."""
    path = access.lv_path(lv)
    block = bytes(ZERO_CHUNK)
    try:
        for offset in range(0, size, ZERO_CHUNK):
            access.ops.write_block(path, offset, block[:min(ZERO_CHUNK, size - offset)])
    except OSError as e:
        raise VolumesZeroingError(f"Cannot zero {path}: {e}") from None
