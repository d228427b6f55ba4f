"""Live snapshot: new leaf volumes become the VM's active layers at once.

The SPM already created each new leaf as a COW child of the drive's
current volume. Here every leaf is prepared through the drive resolver
(as VM start does), the guest's file systems are frozen through qemu-ga
(unless the caller froze them, or memory is saved: libvirt pauses the
guest then), and one libvirt external snapshot (REUSE_EXT | NO_METADATA
| ATOMIC, plus DISK_ONLY without memory) switches all listed disks.
All or nothing: if anything fails the prepared leaves are torn down
again and the drive records stay as they were; libvirt's ATOMIC flag
does the same for QEMU. On success the drive records (``volumeID``,
``path``, ``volumeChain``, see :mod:`vdsm.virt.snapdrives`) follow and
are stored in the domain metadata, so recovery sees them.

Thread-safe: runs under the VM's operation lock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import libvirt
from lxml import etree

from vdsm.common.errors import InvalidParameter, VdsmError
from vdsm.virt import drives, guestops, hibernation, snapdrives
from vdsm.virt.context import VirtContext
from vdsm.virt.domxml import snapshots
from vdsm.virt.domxml.disks import is_block
from vdsm.virt.errors import SnapshotFailed
from vdsm.virt.vm import Vm
from vdsm.virt.vmops import persist_conf, refresh_live, running_domain

log = logging.getLogger(__name__)

TIMEOUT = 30          # minutes a memory snapshot may take (classic default)
FREEZE_TIMEOUT = 8    # minutes a disk-only one may take (the guest frozen)
MINUTE = 60.0         # seconds; the unit of both (tests shrink it)
FLAGS = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT
         | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
         | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC)


def flags(*, memory: bool) -> int:
    """libvirt flags: disk-only unless the memory state is saved too."""
    return FLAGS if memory else FLAGS | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY


class Watchdog:
    """Aborts the domain's job (the snapshot libvirt is taking) when it
    outlasts ``limit`` seconds; ``fired`` tells the caller why it failed."""

    def __init__(self, vm_id: str, dom: libvirt.virDomain, limit: float) -> None:
        self.vm_id = vm_id
        self.dom = dom
        self.limit = limit
        self.fired = False
        self._timer = threading.Timer(limit, self._abort)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _abort(self) -> None:
        self.fired = True
        log.error("vm %s: snapshot still running after %.0f s: aborting it",
                  self.vm_id, self.limit)
        try:
            self.dom.abortJob()
        except libvirt.libvirtError as e:
            log.error("vm %s: cannot abort the snapshot: %s", self.vm_id,
                      e.get_error_message())


def check_timeouts(timeout: Any, freeze_timeout: Any) -> None:
    """InvalidParameter for a timeout that is not a positive number of
    minutes (a zero one once came from a caller's bug)."""
    for name, value in (("timeout", timeout), ("freeze_timeout", freeze_timeout)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or value <= 0:
            raise InvalidParameter(f"Invalid parameter: {name} must be a "
                                   f"positive number of minutes, not {value!r}")


def snapshot(ctx: VirtContext, vm: Vm, snap_drives: Any, *,
             memory: Any = None, frozen: bool = False,
             timeout: Any = None, freeze_timeout: Any = None) -> None:
    """Take the live snapshot; raises InvalidParameter (malformed
    snapDrives or memory handle), SnapshotFailed (a drive not found, a new
    volume missing or not preparable, libvirt refused or timed out),
    VMIsDown. ``timeout`` bounds a memory snapshot, ``freeze_timeout`` a
    disk-only one (minutes, as classic): past it libvirt's job is aborted
    and everything undone, the guest thawed."""
    check_timeouts(timeout, freeze_timeout)
    with vm.lock:
        dom = running_domain(ctx, vm)
        targets = snapdrives.plan(vm.devices, snap_drives)
        memory_spec = hibernation.handle_spec(memory) if memory else None
        if ctx.resolver is None:
            raise SnapshotFailed("Snapshot failed: volume drives need the "
                                 "storage subsystem")
        if not targets:
            log.info("vm %s: snapshot already taken on every drive", vm.id)
            return
        prepared: list[snapdrives.Target] = []
        memory_path = memory_volume = None
        try:
            for target in targets:
                target.path = _prepare(ctx, target)
                prepared.append(target)
            if memory_spec is not None:
                memory_path, memory_volume = _prepare_memory(ctx, memory_spec)
            limit = (timeout or TIMEOUT) if memory_spec is not None else \
                (freeze_timeout or FREEZE_TIMEOUT)
            _take(ctx, vm, dom, targets, memory_path, frozen=frozen,
                  limit=limit * MINUTE)
        except BaseException:
            _undo(ctx, prepared, memory_volume)
            raise
        old = [dict(t.drive) for t in targets]
        for target in targets:
            snapdrives.advance(target)
        refresh_live(vm, dom)
        persist_conf(vm, dom)
    # The new leaves' prepare took the chains below them again: give back
    # what the previous leaves held, so one teardown at release frees all.
    drives.teardown(old, resolver=ctx.resolver)
    if memory_volume is not None:
        drives.teardown([dict(memory_volume, type="disk")], resolver=ctx.resolver)
    log.info("vm %s: snapshot taken: %s", vm.id, ", ".join(
        f"{t.drive['name']} -> {t.new_volume}" for t in targets))


def _prepare(ctx: VirtContext, target: snapdrives.Target) -> str:
    assert ctx.resolver is not None
    try:
        return ctx.resolver.prepare(target.new_drive())
    except VdsmError as e:
        log.error("snapshot: cannot prepare the new volume %s of drive %s: %s",
                  target.new_volume, target.drive["name"], e.message)
        raise SnapshotFailed(f"Snapshot failed: cannot prepare volume "
                             f"{target.new_volume} of drive "
                             f"{target.drive['name']}: {e.message}") from None


def _prepare_memory(ctx: VirtContext, spec: Any
                    ) -> tuple[str, dict[str, Any] | None]:
    try:
        return drives.resolve_spec(spec, resolver=ctx.resolver, must_exist=False)
    except VdsmError as e:
        raise SnapshotFailed(f"Snapshot failed: cannot prepare the memory "
                             f"volume: {e.message}") from None


def _take(ctx: VirtContext, vm: Vm, dom: libvirt.virDomain,
          targets: list[snapdrives.Target], memory_path: str | None, *,
          frozen: bool, limit: float) -> None:
    names = {t.drive["name"] for t in targets}
    others = [d["name"] for d in vm.devices
              if d["type"] == "disk" and d["name"] not in names]
    xml = etree.tostring(snapshots.element_for(
        [snapshots.NewLayer(t.drive["name"], t.path, is_block(t.path))
         for t in targets], others, memory_path=memory_path), encoding="unicode")
    we_froze = False
    if frozen:
        log.info("vm %s: the caller froze the guest", vm.id)
    elif memory_path:
        log.info("vm %s: not freezing: libvirt pauses the guest to save its "
                 "memory", vm.id)
    else:
        we_froze = _freeze(ctx, vm)
    started = time.monotonic()
    watchdog = Watchdog(vm.id, dom, limit)
    try:
        with watchdog:
            dom.snapshotCreateXML(xml, flags(memory=memory_path is not None))
    except libvirt.libvirtError as e:
        why = (f"timed out after {limit:.0f} s ({e.get_error_message()})"
               if watchdog.fired else e.get_error_message())
        log.error("vm %s: snapshot failed: %s", vm.id, why)
        raise SnapshotFailed(f"Snapshot failed: {why}") from None
    finally:
        if we_froze:
            _thaw(ctx, vm)
    log.debug("vm %s: libvirt snapshot took %.3f s", vm.id,
              time.monotonic() - started)


def _freeze(ctx: VirtContext, vm: Vm) -> bool:
    """Freeze if an agent answers; a guest without one is snapshotted
    unfrozen (crash-consistent), as the classic agent does."""
    try:
        guestops.freeze(ctx, vm)
    except VdsmError as e:
        log.warning("vm %s: snapshot without freezing the guest: %s", vm.id,
                    e.message)
        return False
    return True


def _thaw(ctx: VirtContext, vm: Vm) -> None:
    try:
        guestops.thaw(ctx, vm)
    except VdsmError as e:
        log.error("vm %s: cannot thaw the guest after the snapshot: %s", vm.id,
                  e.message)


def _undo(ctx: VirtContext, prepared: list[snapdrives.Target],
          memory_volume: dict[str, Any] | None) -> None:
    undo = [dict(t.new_drive(), type="disk") for t in prepared]
    if memory_volume is not None:
        undo.append(dict(memory_volume, type="disk"))
    drives.teardown(undo, resolver=ctx.resolver)
    for target in prepared:
        target.path = ""
