"""LVM command lines: argument checks, the device filter, argv, running.

Every command names, in its ``--config``, exactly the devices it may look
at (``filter = ["a|^/dev/loop3$|", "r|.*|"]``) with the devices file off
(lvm2 2.03 would otherwise consult /etc/lvm/devices) and udev and hints
ignored, so the host's other disks are never scanned and a PV appearing
elsewhere cannot confuse a domain. ``use_lvmetad``/``locking_type`` are
gone in lvm2 2.03 (Debian 12 ships 2.03.16): local file locking is the
only mode. Without device-mapper in the kernel (``/proc/misc``), metadata
commands run with ``global { activation = 0 }``.

:func:`execute` runs one named command and is what supervdsmd's LVM ops
call; everything before it is pure and tested on its own.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Sequence

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.storage import lvm_errors as errors
from vdsm.storage import lvm_report

log = logging.getLogger(__name__)

# Below supervdsm's default answer timeout (60 s): a hung command comes
# back as its LVM error, not as "supervdsm unavailable".
TIMEOUT = 50.0
MIB = 1024 * 1024
# The classic block domain: 128 MiB extents; two metadata areas of 128 MiB
# per PV (start and end of the device), big enough for thousands of LVs
# with tags, so a damaged first copy leaves the second.
EXTENT_SIZE = 128 * MIB
METADATA_SIZE = 128 * MIB
METADATA_COPIES = 2

_DEVICE = re.compile(r"^/dev/[A-Za-z0-9_][A-Za-z0-9_.:+/-]*$")
# LVM's own rule (lib/misc/lvm-string.c), minus names it reserves.
_NAME = re.compile(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$")
# LVM allows [A-Za-z0-9_+.-/=!:&#] in tags; '!' and a leading '-' or '@'
# could be read as selection syntax or options, so they are refused.
_TAG = re.compile(r"^[A-Za-z0-9_+.=:&#/][A-Za-z0-9_+.=:&#/-]{0,1023}$")
MAX_DEVICES = 256


def check_devices(devices: Sequence[str]) -> list[str]:
    """Device paths under /dev, normalised, at least one.

    Raises InvalidParameter."""
    if not devices or len(devices) > MAX_DEVICES:
        raise InvalidParameter(f"need 1 to {MAX_DEVICES} devices, got {len(devices)}")
    for dev in devices:
        if not _DEVICE.match(dev) or os.path.normpath(dev) != dev \
                or "/../" in dev + "/" or "/./" in dev + "/":
            raise InvalidParameter(f"bad device path {dev[:100]!r}")
    return list(devices)


def check_name(name: str, what: str = "name") -> str:
    """A VG or LV name LVM accepts. Raises InvalidParameter."""
    if not _NAME.match(name) or name in (".", ".."):
        raise InvalidParameter(f"bad {what} {name[:100]!r}")
    return name


def check_tags(tags: Sequence[str]) -> list[str]:
    """Tags of the strict alphabet. Raises InvalidParameter."""
    for tag in tags:
        if not _TAG.match(tag):
            raise InvalidParameter(f"bad tag {tag[:100]!r}")
    return list(tags)


def check_size(size: int, what: str = "size") -> int:
    """A positive byte count of whole 512-byte sectors (LVM refuses
    others). Raises InvalidParameter."""
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0 \
            or size % 512:
        raise InvalidParameter(f"bad {what} {size!r}")
    return size


def device_mapper_available() -> bool:
    """Whether this kernel has device-mapper (so LVs can be activated)."""
    try:
        with open("/proc/misc") as f:
            return any(line.split()[1:] == ["device-mapper"] for line in f)
    except OSError:
        return False


def config(devices: Sequence[str], *, activation: bool = True) -> str:
    """The ``--config`` string accepting exactly ``devices``.

    Device paths are checked (check_devices) so none can carry a '|' or a
    quote; '.' and '+' are written as classes to match themselves.
    """
    accept = ['"a|^' + re.sub(r"([.+])", r"[\1]", dev) + '$|"' for dev in devices]
    filters = ", ".join([*accept, '"r|.*|"'])
    global_ = "wait_for_locks = 1 prioritise_write_locks = 1 use_lvmlockd = 0"
    if not activation:
        global_ += " activation = 0"
    return (f"devices {{ filter = [ {filters} ] use_devicesfile = 0 "
            'obtain_device_list_from_udev = 0 hints = "none" '
            'write_cache_state = 0 preferred_names = [ "^/dev/mapper/" ] '
            "ignore_suspended_devices = 1 } "
            f"global {{ {global_} }} "
            "backup { retain_min = 50 retain_days = 0 }")


def _lvm(command: str, devices: Sequence[str], *args: str,
         activation: bool) -> list[str]:
    return ["lvm", command, "--config", config(devices, activation=activation),
            *args]


def _size(size: int) -> str:
    return f"{size}b"


def _tag_args(add: Sequence[str], delete: Sequence[str]) -> list[str]:
    args: list[str] = []
    for tag in delete:
        args += ["--deltag", tag]
    for tag in add:
        args += ["--addtag", tag]
    return args


def report_argv(kind: str, devices: Sequence[str], names: Sequence[str] = (),
                *, activation: bool = True) -> list[str]:
    """``pvs``/``vgs``/``lvs`` in JSON with byte sizes (kind: pv, vg, lv)."""
    return _lvm(f"{kind}s", devices, "--reportformat", "json", "--units", "b",
                "--nosuffix", "-o", ",".join(lvm_report.FIELDS[kind]), *names,
                activation=activation)


def build(op: str, devices: Sequence[str], args: dict[str, Any], *,
          activation: bool) -> tuple[list[str], type[errors.LVMError]]:
    """The argv of ``op`` and the error its failure raises by default."""
    a = args
    meta = {"activation": activation}   # metadata-only commands
    # No /etc/lvm/backup copy: the VG is shared, a host's copy goes stale
    # at once. The archive of each change (backup/retain_min) stays.
    nobackup = ("--autobackup", "n")
    if op == "pvcreate":
        extra = ["-ff", "--yes"] if a.get("force") else []
        return _lvm("pvcreate", devices, "--metadatasize", _size(a["metadata_size"]),
                    "--metadatacopies", str(a["metadata_copies"]),
                    "--metadataignore", "y" if a.get("metadata_ignore") else "n",
                    *extra, *a["pvs"], **meta), errors.PhysDevInitializationError
    if op == "pvresize":
        return (_lvm("pvresize", devices, *a["pvs"], **meta),
                errors.CouldNotResizePhysicalVolume)
    if op == "pvremove":
        return (_lvm("pvremove", devices, *a["pvs"], **meta),
                errors.PhysDevInitializationError)
    if op == "vgcreate":
        return (_lvm("vgcreate", devices, *nobackup, "--physicalextentsize",
                     _size(a["extent_size"]), *_tag_args(a.get("tags", ()), ()),
                     a["vg"], *a["pvs"], **meta), errors.VolumeGroupCreateError)
    if op == "vgextend":
        return (_lvm("vgextend", devices, *nobackup, a["vg"], *a["pvs"], **meta),
                errors.VolumeGroupExtendError)
    if op == "vgreduce":
        return (_lvm("vgreduce", devices, *nobackup, a["vg"], *a["pvs"], **meta),
                errors.VolumeGroupReduceError)
    if op == "vgremove":
        return (_lvm("vgremove", devices, "-f", a["vg"], **meta),
                errors.VolumeGroupRemoveError)
    if op == "vgchange_tags":
        return (_lvm("vgchange", devices, *nobackup,
                     *_tag_args(a["add"], a["delete"]), a["vg"], **meta),
                errors.VolumeGroupReplaceTagError)
    lv = f"{a['vg']}/{a['lv']}" if "lv" in a else ""
    if op == "lvcreate":
        # Created inactive and not zeroed: zeroing needs activation, and
        # the domain code activates where and when a volume is used.
        return (_lvm("lvcreate", devices, *nobackup, "--contiguous",
                     "y" if a.get("contiguous") else "n", "--activate", "n",
                     "--zero", "n", "--wipesignatures", "n",
                     "--size", _size(a["size"]), *_tag_args(a.get("tags", ()), ()),
                     "--name", a["lv"], a["vg"], **meta),
                errors.CannotCreateLogicalVolume)
    if op == "lvextend":
        return (_lvm("lvextend", devices, *nobackup, "--size", _size(a["size"]),
                     lv, **meta), errors.LogicalVolumeExtendError)
    if op == "lvreduce":
        return (_lvm("lvreduce", devices, *nobackup, "--force", "--size",
                     _size(a["size"]), lv, **meta), errors.LogicalVolumeExtendError)
    if op == "lvremove":
        return (_lvm("lvremove", devices, *nobackup, "-f", lv, **meta),
                errors.CannotRemoveLogicalVolume)
    if op == "lvrename":
        return (_lvm("lvrename", devices, *nobackup, a["vg"], a["lv"],
                     a["new_name"], **meta), errors.LogicalVolumeRenameError)
    if op == "lvchange_tags":
        error = (errors.LogicalVolumeReplaceTagError if a["add"] and a["delete"]
                 else errors.LogicalVolumeAddTagError if a["add"]
                 else errors.LogicalVolumeRemoveTagError)
        return (_lvm("lvchange", devices, *nobackup,
                     *_tag_args(a["add"], a["delete"]), lv, **meta), error)
    # Activation talks to device-mapper: never run with activation = 0,
    # so a host without it fails loudly instead of pretending.
    if op == "activate":
        return (_lvm("lvchange", devices, *nobackup, "--activate", "y", lv,
                     activation=True), errors.CannotActivateLogicalVolume)
    if op == "deactivate":
        return (_lvm("lvchange", devices, *nobackup, "--activate", "n", lv,
                     activation=True), errors.CannotDeactivateLogicalVolume)
    if op == "refresh":
        return (_lvm("lvchange", devices, "--refresh", lv, activation=True),
                errors.LogicalVolumeRefreshError)
    raise InvalidParameter(f"unknown LVM command {op!r}")


REPORT_ERRORS = {"pv": errors.CouldNotRetrievePhysicalVolumeList,
                 "vg": errors.GetVolumeGroupListError,
                 "lv": errors.CouldNotRetrieveLogicalVolumesList}


def _run(argv: list[str], default: type[errors.LVMError], *,
         check: bool = True) -> commands.CommandResult:
    # LVM complains on stderr about every inherited descriptor; the
    # messages it writes are matched in English.
    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1", LC_ALL="C")
    try:
        result = commands.run(argv, timeout=TIMEOUT, check=False, env=env)
    except commands.CommandError as e:  # not installed, or timed out
        raise default(f"{argv[1]} {e.reason}") from None
    if check and result.rc != 0:
        cls = errors.classify(result.err, default)
        raise cls(f"{argv[1]} failed (rc={result.rc}): {errors.detail(result.err)}")
    return result


def execute(op: str, devices: Sequence[str], args: dict[str, Any]) -> None:
    """Run one changing command over exactly ``devices``.

    Raises the LVMError subclass the failure means (see lvm_errors).
    """
    argv, default = build(op, devices, args, activation=device_mapper_available())
    _run(argv, default)


def report(kind: str, devices: Sequence[str],
           names: Sequence[str] = ()) -> list[list[str]]:
    """Rows of a pvs/vgs/lvs report, values in FIELDS[kind] order (compact
    enough to cross the supervdsm socket for thousands of LVs).

    An absent name in ``names`` is not an error: its rows are just missing.
    """
    argv = report_argv(kind, devices, names, activation=device_mapper_available())
    result = _run(argv, REPORT_ERRORS[kind], check=False)
    fields = lvm_report.FIELDS[kind]
    try:
        rows = lvm_report.rows(result.out, kind)
    except lvm_report.ReportError as e:
        raise REPORT_ERRORS[kind](f"{argv[1]} (rc={result.rc}): "
                                  f"{errors.detail(result.err) or e}") from None
    return [[row[f] for f in fields] for row in rows]
