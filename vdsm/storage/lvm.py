"""LVM for block storage domains: the one way the agent reaches LVM.

::

    lvm = LVM(supervdsm_client)             # in vdsmd; LocalRunner() as root
    lvm.pvcreate(["/dev/mapper/3600..."])
    lvm.vgcreate(sd_uuid, ["/dev/mapper/3600..."], tags=["RHAT_storage_domain"])
    lvm.lvcreate(sd_uuid, "metadata", 128 * MIB, tags=["IU_..."])
    lvm.lvs(sd_uuid)                        # cached until something changes

Every command names exactly the PVs of the VG it works on (see
:mod:`vdsm.storage.lvm_cmd`): the LVM object learns them when it creates
or extends a VG, from :meth:`LVM.set_devices` (the domain's metadata) or
from :meth:`LVM.find_vg`; a VG it does not know raises
VolumeGroupDoesNotExist without running anything.

Reports are cached per VG and dropped on every change made through this
object, and by :meth:`LVM.invalidate` (a host that is not the SPM calls it
when told that the SPM changed the VG). A report read while a change ran
is not stored (a generation count per VG), so a stale answer never
outlives the change. All methods are thread-safe.

The commands themselves run where the runner runs them: supervdsmd (a
:class:`~vdsm.supervdsm.client.SupervdsmClient` is a runner) or this
process (:class:`LocalRunner`, for supervdsmd itself and root tools).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol, Sequence

from vdsm.storage import lvm_cmd, lvm_report
from vdsm.storage.lvm_errors import (
    LogicalVolumeDoesNotExistError,
    VolumeGroupDoesNotExist,
)
from vdsm.storage.lvm_report import LV, PV, VG
from vdsm.supervdsm.errors import UnknownOperation

log = logging.getLogger(__name__)

MIB = lvm_cmd.MIB
EXTENT_SIZE = lvm_cmd.EXTENT_SIZE

__all__ = ["LV", "LVM", "PV", "VG", "LocalRunner", "Runner"]


class Runner(Protocol):
    """Runs a supervdsm LVM op (``lvm_*`` of vdsm.supervdsm.ops_lvm)."""

    def call(self, op: str, /, **args: Any) -> Any: ...


class LocalRunner:
    """Runs the LVM ops in this process, with supervdsm's own argument
    checks (the process must be root)."""

    def __init__(self) -> None:
        from vdsm.supervdsm import ops, ops_lvm
        self._ops = {name: op for name, op in ops.load([ops_lvm.__name__]).items()
                     if op.func.__module__ == ops_lvm.__name__}
        self._validate = ops.validate

    def call(self, op: str, /, **args: Any) -> Any:
        """Raises what the op raises; UnknownOperation outside ops_lvm."""
        operation = self._ops.get(op)
        if operation is None:
            raise UnknownOperation(f"not an LVM op: {op[:100]!r}")
        self._validate(operation, args)
        return operation.func(None, **args)


class LVM:
    """LVM metadata of the VGs of block domains, through a runner."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self._devices: dict[str, tuple[str, ...]] = {}
        self._cache: dict[tuple[str, str], Any] = {}   # (vg, kind) -> report
        self._generation: dict[str, int] = {}

    # Which devices a VG's commands may see.

    def set_devices(self, vg: str, devices: Sequence[str]) -> None:
        """Name the PVs of ``vg`` (from the domain's metadata)."""
        with self._lock:
            self._devices[vg] = tuple(devices)
        self.invalidate(vg)

    def devices(self, vg: str) -> tuple[str, ...]:
        """The PVs commands on ``vg`` see. Raises VolumeGroupDoesNotExist."""
        with self._lock:
            devices = self._devices.get(vg)
        if devices is None:
            raise VolumeGroupDoesNotExist(f"Volume Group {vg!r} is not known "
                                          "to this host (no devices)")
        return devices

    def find_vg(self, vg: str, candidates: Sequence[str]) -> VG:
        """Look for ``vg`` among ``candidates`` and remember its PVs.

        Raises VolumeGroupDoesNotExist when none of them carries it."""
        found = [pv.name for pv in self.pvs(candidates) if pv.vg_name == vg]
        if not found:
            raise VolumeGroupDoesNotExist(f"Volume Group {vg!r} is on none of "
                                          f"{len(candidates)} devices")
        self.set_devices(vg, found)
        return self.vg(vg)

    def invalidate(self, vg: str | None = None) -> None:
        """Forget the reports of ``vg`` (of every VG when None)."""
        with self._lock:
            vgs = [vg] if vg is not None else list(self._generation)
            for name in vgs:
                self._generation[name] = self._generation.get(name, 0) + 1
            for key in [k for k in self._cache if k[0] in vgs]:
                del self._cache[key]

    # Physical volumes.

    def pvcreate(self, devices: Sequence[str], *,
                 metadata_size: int = lvm_cmd.METADATA_SIZE,
                 metadata_copies: int = lvm_cmd.METADATA_COPIES,
                 metadata_ignore: bool = False, force: bool = False) -> None:
        """Initialise devices as PVs. Raises PhysDevInitializationError
        (a device already in a VG needs ``force``)."""
        log.info("pvcreate %s", list(devices))
        self._runner.call("lvm_pvcreate", devices=list(devices), pvs=list(devices),
                          metadata_size=metadata_size,
                          metadata_copies=metadata_copies,
                          metadata_ignore=metadata_ignore, force=force)

    def pvremove(self, devices: Sequence[str]) -> None:
        """Wipe the PV label of devices in no VG (the undo of pvcreate).
        Raises PhysDevInitializationError."""
        log.info("pvremove %s", list(devices))
        self._runner.call("lvm_pvremove", devices=list(devices), pvs=list(devices))

    def pvs(self, devices: Sequence[str]) -> list[PV]:
        """The PVs among ``devices`` (not cached: for device listings)."""
        return lvm_report.parse_pvs(self._report("pv", devices))

    def vgs(self, devices: Sequence[str]) -> list[VG]:
        """The VGs on ``devices`` (not cached: for device listings); a VG
        with PVs outside ``devices`` shows as partial."""
        return lvm_report.parse_vgs(self._report("vg", devices))

    def pvresize(self, vg: str, pvs: Sequence[str]) -> None:
        """Grow PVs of ``vg`` to their devices' size.
        Raises CouldNotResizePhysicalVolume."""
        log.info("pvresize %s of %s", list(pvs), vg)
        self._change(vg, "lvm_pvresize", pvs=list(pvs), with_vg=False)

    # Volume groups.

    def vgcreate(self, vg: str, devices: Sequence[str], *,
                 tags: Sequence[str] = (), extent_size: int = EXTENT_SIZE) -> VG:
        """Create ``vg`` on PVs (see pvcreate). Raises VolumeGroupCreateError,
        VolumeGroupAlreadyExistsError."""
        log.info("vgcreate %s on %s tags=%s", vg, list(devices), list(tags))
        try:
            self._runner.call("lvm_vgcreate", devices=list(devices), vg=vg,
                              pvs=list(devices), extent_size=extent_size,
                              tags=list(tags))
        finally:
            self.invalidate(vg)
        self.set_devices(vg, devices)
        return self.vg(vg)

    def vgextend(self, vg: str, devices: Sequence[str]) -> None:
        """Add PVs to ``vg``. Raises VolumeGroupExtendError."""
        log.info("vgextend %s with %s", vg, list(devices))
        known = self.devices(vg)
        both = [*known, *(d for d in devices if d not in known)]
        try:
            self._runner.call("lvm_vgextend", devices=both, vg=vg, pvs=list(devices))
        finally:
            self.invalidate(vg)
        self.set_devices(vg, both)

    def vgreduce(self, vg: str, devices: Sequence[str]) -> None:
        """Take unused PVs out of ``vg`` (the undo of vgextend).
        Raises VolumeGroupReduceError."""
        log.info("vgreduce %s by %s", vg, list(devices))
        known = self.devices(vg)
        try:
            self._runner.call("lvm_vgreduce", devices=list(known), vg=vg,
                              pvs=list(devices))
        finally:
            self.invalidate(vg)
        self.set_devices(vg, [d for d in known if d not in devices])

    def vgremove(self, vg: str) -> None:
        """Remove ``vg`` with its LVs. Raises VolumeGroupRemoveError."""
        log.info("vgremove %s", vg)
        self._change(vg, "lvm_vgremove")
        with self._lock:
            self._devices.pop(vg, None)

    def change_vg_tags(self, vg: str, *, add: Sequence[str] = (),
                       delete: Sequence[str] = ()) -> None:
        """Delete then add tags in one update (a replace when both are given).
        Raises VolumeGroupReplaceTagError."""
        log.info("vg %s tags -%s +%s", vg, list(delete), list(add))
        self._change(vg, "lvm_vgchange_tags", add=list(add), delete=list(delete))

    def vg(self, vg: str) -> VG:
        """The VG (cached). Raises VolumeGroupDoesNotExist."""
        found = self._cached(vg, "vg", lambda: lvm_report.parse_vgs(
            self._report("vg", self.devices(vg), [vg])))
        if not found:
            raise VolumeGroupDoesNotExist(f"Volume Group {vg!r} does not exist")
        return found[0]

    def vg_pvs(self, vg: str) -> list[PV]:
        """The PVs of ``vg`` (cached)."""
        return [pv for pv in self._cached(vg, "pv", lambda: lvm_report.parse_pvs(
            self._report("pv", self.devices(vg)))) if pv.vg_name == vg]

    # Logical volumes.

    def lvcreate(self, vg: str, lv: str, size: int, *, tags: Sequence[str] = (),
                 contiguous: bool = False) -> LV:
        """Create an inactive LV of at least ``size`` bytes (whole extents).
        Raises LogicalVolumeAlreadyExists, VolumeGroupSizeError,
        CannotCreateLogicalVolume."""
        log.info("lvcreate %s/%s size=%d tags=%s", vg, lv, size, list(tags))
        self._change(vg, "lvm_lvcreate", lv=lv, size=size, tags=list(tags),
                     contiguous=contiguous)
        return self.lv(vg, lv)

    def lvextend(self, vg: str, lv: str, size: int) -> None:
        """Grow ``lv`` to ``size`` bytes. Raises LogicalVolumeExtendError
        (also when not larger), VolumeGroupSizeError."""
        log.info("lvextend %s/%s to %d", vg, lv, size)
        self._change(vg, "lvm_lvresize", lv=lv, size=size)

    def lvreduce(self, vg: str, lv: str, size: int) -> None:
        """Shrink ``lv`` to ``size`` bytes (its data beyond is lost)."""
        log.info("lvreduce %s/%s to %d", vg, lv, size)
        self._change(vg, "lvm_lvresize", lv=lv, size=size, reduce=True)

    def lvremove(self, vg: str, lv: str) -> None:
        """Remove ``lv``. Raises CannotRemoveLogicalVolume,
        LogicalVolumeDoesNotExistError."""
        log.info("lvremove %s/%s", vg, lv)
        self._change(vg, "lvm_lvremove", lv=lv)

    def lvrename(self, vg: str, lv: str, new_name: str) -> None:
        """Rename ``lv``. Raises LogicalVolumeRenameError,
        LogicalVolumeAlreadyExists."""
        log.info("lvrename %s/%s to %s", vg, lv, new_name)
        self._change(vg, "lvm_lvrename", lv=lv, new_name=new_name)

    def change_lv_tags(self, vg: str, lv: str, *, add: Sequence[str] = (),
                       delete: Sequence[str] = ()) -> None:
        """Delete then add LV tags in one update. Raises
        LogicalVolumeAddTagError (only adding), LogicalVolumeRemoveTagError
        (only deleting), LogicalVolumeReplaceTagError (both)."""
        log.info("lv %s/%s tags -%s +%s", vg, lv, list(delete), list(add))
        self._change(vg, "lvm_lvchange_tags", lv=lv, add=list(add),
                     delete=list(delete))

    def lvs(self, vg: str) -> list[LV]:
        """The LVs of ``vg`` (cached). Raises VolumeGroupDoesNotExist."""
        def read() -> list[LV]:
            found = lvm_report.parse_lvs(self._report("lv", self.devices(vg), [vg]))
            if not found:
                self.vg(vg)     # lvs is silent about a missing VG: ask once
            return found
        return list(self._cached(vg, "lv", read))

    def lv(self, vg: str, lv: str) -> LV:
        """One LV (cached). Raises LogicalVolumeDoesNotExistError."""
        for found in self.lvs(vg):
            if found.name == lv:
                return found
        raise LogicalVolumeDoesNotExistError(f"Logical volume {vg}/{lv} "
                                             "does not exist")

    def activate(self, vg: str, lv: str) -> None:
        """Activate ``lv`` on this host. Raises CannotActivateLogicalVolume."""
        self._state(vg, lv, "activate")

    def deactivate(self, vg: str, lv: str) -> None:
        """Raises CannotDeactivateLogicalVolume."""
        self._state(vg, lv, "deactivate")

    def refresh(self, vg: str, lv: str) -> None:
        """Reload an active LV's table after another host extended it.
        Raises LogicalVolumeRefreshError."""
        self._state(vg, lv, "refresh")

    # Internals.

    def _state(self, vg: str, lv: str, state: str) -> None:
        log.info("%s %s/%s", state, vg, lv)
        self._change(vg, "lvm_lvchange_state", lv=lv, state=state)

    def _change(self, vg: str, op: str, *, with_vg: bool = True,
                **args: Any) -> None:
        if with_vg:
            args["vg"] = vg
        try:
            self._runner.call(op, devices=list(self.devices(vg)), **args)
        finally:
            self.invalidate(vg)   # even a failed command may have changed it

    def _report(self, kind: str, devices: Sequence[str],
                names: Sequence[str] = ()) -> list[dict[str, str]]:
        values = self._runner.call("lvm_report", kind=kind, devices=list(devices),
                                   names=list(names))
        return lvm_report.from_values(kind, values)

    def _cached(self, vg: str, kind: str, read: Any) -> Any:
        with self._lock:
            if (vg, kind) in self._cache:
                return self._cache[(vg, kind)]
            generation = self._generation.get(vg, 0)
        value = read()
        with self._lock:
            if self._generation.get(vg, 0) == generation:
                self._cache[(vg, kind)] = value
        return value
