"""Privileged LVM ops: the only way vdsmd changes or reads LVM metadata.

Each op names the devices its command may see (``devices``: the filter,
paths under /dev) and checks every other argument (VG/LV names by LVM's
name rule, tags by a strict alphabet, sizes as positive byte counts)
before a command line is built (vdsm.storage.lvm_cmd). Failures come back
as the classic LVM errors (vdsm.storage.lvm_errors).
"""

from __future__ import annotations

from typing import Any

from vdsm.common.errors import InvalidParameter
from vdsm.storage import lvm_cmd
from vdsm.storage.lvm_cmd import check_devices, check_name, check_size, check_tags
from vdsm.supervdsm.ops import OpContext, operation

MAX_TAGS = 64


def _pvs(devices: list[str], pvs: list[str]) -> list[str]:
    """PVs to work on: checked, and all inside the filter."""
    check_devices(pvs)
    outside = sorted(set(pvs) - set(devices))
    if outside:
        raise InvalidParameter(f"devices outside the filter: {', '.join(outside)}")
    return pvs


def _tags(tags: list[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise InvalidParameter(f"at most {MAX_TAGS} tags per command")
    return check_tags(tags)


def _run(op: str, devices: list[str], **args: Any) -> None:
    lvm_cmd.execute(op, check_devices(devices), args)


@operation
def lvm_pvcreate(ctx: OpContext, *, devices: list[str], pvs: list[str],
                 metadata_size: int = lvm_cmd.METADATA_SIZE,
                 metadata_copies: int = lvm_cmd.METADATA_COPIES,
                 metadata_ignore: bool = False, force: bool = False) -> None:
    """Initialise ``pvs`` as PVs. ``force`` (-ff) overwrites a PV that
    belongs to a VG: only for a LUN the caller decided to reuse."""
    if metadata_copies not in (0, 1, 2):
        raise InvalidParameter(f"bad metadata_copies {metadata_copies}")
    _run("pvcreate", devices, pvs=_pvs(devices, pvs),
         metadata_size=check_size(metadata_size, "metadata_size"),
         metadata_copies=metadata_copies, metadata_ignore=metadata_ignore,
         force=force)


@operation
def lvm_pvresize(ctx: OpContext, *, devices: list[str], pvs: list[str]) -> None:
    """Grow PVs to their devices' size (after a LUN grew)."""
    _run("pvresize", devices, pvs=_pvs(devices, pvs))


@operation
def lvm_pvremove(ctx: OpContext, *, devices: list[str], pvs: list[str]) -> None:
    """Wipe the PV label of devices in no VG (undo of a pvcreate)."""
    _run("pvremove", devices, pvs=_pvs(devices, pvs))


@operation
def lvm_vgcreate(ctx: OpContext, *, devices: list[str], vg: str, pvs: list[str],
                 extent_size: int = lvm_cmd.EXTENT_SIZE,
                 tags: list[str] | None = None) -> None:
    """Create a VG on PVs made by lvm_pvcreate."""
    _run("vgcreate", devices, vg=check_name(vg, "VG name"), pvs=_pvs(devices, pvs),
         extent_size=check_size(extent_size, "extent_size"), tags=_tags(tags or []))


@operation
def lvm_vgextend(ctx: OpContext, *, devices: list[str], vg: str,
                 pvs: list[str]) -> None:
    """Add PVs to a VG."""
    _run("vgextend", devices, vg=check_name(vg, "VG name"), pvs=_pvs(devices, pvs))


@operation
def lvm_vgreduce(ctx: OpContext, *, devices: list[str], vg: str,
                 pvs: list[str]) -> None:
    """Take unused PVs out of a VG (undo of a vgextend)."""
    _run("vgreduce", devices, vg=check_name(vg, "VG name"), pvs=_pvs(devices, pvs))


@operation
def lvm_vgremove(ctx: OpContext, *, devices: list[str], vg: str) -> None:
    """Remove a VG and its LVs (the PVs stay PVs)."""
    _run("vgremove", devices, vg=check_name(vg, "VG name"))


@operation
def lvm_vgchange_tags(ctx: OpContext, *, devices: list[str], vg: str,
                      add: list[str], delete: list[str]) -> None:
    """Delete and add VG tags in one metadata update."""
    _run("vgchange_tags", devices, vg=check_name(vg, "VG name"), add=_tags(add),
         delete=_tags(delete))


@operation
def lvm_lvcreate(ctx: OpContext, *, devices: list[str], vg: str, lv: str,
                 size: int, tags: list[str] | None = None,
                 contiguous: bool = False) -> None:
    """Create an inactive LV of at least ``size`` bytes."""
    _run("lvcreate", devices, vg=check_name(vg, "VG name"),
         lv=check_name(lv, "LV name"), size=check_size(size),
         tags=_tags(tags or []), contiguous=contiguous)


@operation
def lvm_lvresize(ctx: OpContext, *, devices: list[str], vg: str, lv: str,
                 size: int, reduce: bool = False) -> None:
    """Extend an LV to ``size`` bytes, or with ``reduce`` shrink it."""
    _run("lvreduce" if reduce else "lvextend", devices,
         vg=check_name(vg, "VG name"), lv=check_name(lv, "LV name"),
         size=check_size(size))


@operation
def lvm_lvremove(ctx: OpContext, *, devices: list[str], vg: str, lv: str) -> None:
    """Remove an (inactive) LV."""
    _run("lvremove", devices, vg=check_name(vg, "VG name"),
         lv=check_name(lv, "LV name"))


@operation
def lvm_lvrename(ctx: OpContext, *, devices: list[str], vg: str, lv: str,
                 new_name: str) -> None:
    """Rename an LV inside its VG."""
    _run("lvrename", devices, vg=check_name(vg, "VG name"),
         lv=check_name(lv, "LV name"), new_name=check_name(new_name, "LV name"))


@operation
def lvm_lvchange_tags(ctx: OpContext, *, devices: list[str], vg: str, lv: str,
                      add: list[str], delete: list[str]) -> None:
    """Delete and add LV tags in one metadata update."""
    _run("lvchange_tags", devices, vg=check_name(vg, "VG name"),
         lv=check_name(lv, "LV name"), add=_tags(add), delete=_tags(delete))


@operation
def lvm_lvchange_state(ctx: OpContext, *, devices: list[str], vg: str, lv: str,
                       state: str) -> None:
    """Activate, deactivate or refresh an LV on this host (device-mapper)."""
    if state not in ("activate", "deactivate", "refresh"):
        raise InvalidParameter(f"bad LV state change {state!r}")
    _run(state, devices, vg=check_name(vg, "VG name"), lv=check_name(lv, "LV name"))


@operation
def lvm_report(ctx: OpContext, *, kind: str, devices: list[str],
               names: list[str] | None = None) -> list[list[str]]:
    """A pvs/vgs/lvs report over ``devices`` (rows in lvm_report.FIELDS
    order), limited to the named PVs (devices) or VGs."""
    if kind not in ("pv", "vg", "lv"):
        raise InvalidParameter(f"bad report kind {kind!r}")
    names = names or []
    if kind == "pv" and names:
        _pvs(devices, names)
    else:
        for name in names:
            check_name(name, "VG name")
    return lvm_cmd.report(kind, check_devices(devices), names)
