"""Mounting and unmounting storage under the storage mount root.

The storage subsystem connects file-based storage domains by mounting them
below ``<repository>/mnt``; only root may mount. These ops accept a short
list of file system types, mount options of a plain ``key[=value]`` form
(no helper programs, no user-mountable or setuid/device options; ``nosuid``
and ``nodev`` are always added), and targets that are real directories
below the mount root. The target is checked with ``O_NOFOLLOW`` and its
verified real path is what mount(8) gets; a symlink swapped in between
that check and the mount call is the one race left.
"""

from __future__ import annotations

import logging
import os
import re
import stat

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm import confine
from vdsm.supervdsm.errors import MountError, MountTypeError
from vdsm.supervdsm.ops import OpContext, operation

log = logging.getLogger(__name__)

LOCAL_VFS = frozenset({"ext2", "ext3", "ext4", "xfs"})
REMOTE_VFS = frozenset({"nfs", "nfs4", "glusterfs", "cifs"})
ALLOWED_VFS = LOCAL_VFS | REMOTE_VFS | {"tmpfs"}

_FORBIDDEN_OPTIONS = frozenset({
    "helper", "uhelper", "suid", "dev", "user", "users", "owner", "group",
    "loop"})
_OPTION = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.:/@+%~-]*)?")
_REMOTE_SPEC = re.compile(r"[A-Za-z0-9_.:/@\[\]%+-]+")
_TMPFS_SPEC = re.compile(r"[A-Za-z0-9_.-]+")
MAX_TIMEOUT = 600.0


@operation
def mount(ctx: OpContext, *, spec: str, target: str, vfs_type: str,
          options: str | None = None, timeout: float = 60.0) -> None:
    """Mount ``spec`` (device, ``server:/export``, ...) on ``target``.

    ``target`` must be an existing directory below the mount root, not
    already a mount point. Raises MountTypeError for a type outside the
    allowlist, InvalidParameter for a bad spec, option or target, and
    MountError when mount(8) fails or exceeds ``timeout`` (1..600 s).
    """
    if vfs_type not in ALLOWED_VFS:
        raise MountTypeError(
            f"file system type {vfs_type!r} is not allowed; allowed: "
            f"{', '.join(sorted(ALLOWED_VFS))}")
    _check_timeout(timeout)
    _check_spec(spec, vfs_type)
    opts = _check_options(options)
    root, parts = _split_target(ctx, target)
    with confine.open_dir(root, parts):
        real_target = confine.join(root, parts)
    if real_target in mount_points():
        raise MountError(f"{target} is already a mount point")
    argv = ["mount", "-t", vfs_type, "-o", ",".join(opts), "--", spec,
            real_target]
    try:
        commands.run(argv, timeout=timeout)
    except commands.CommandError as e:
        raise MountError(
            f"mount of {spec} on {target} failed: {e.reason}: "
            f"{e.err.strip()[:500]}") from None


@operation
def umount(ctx: OpContext, *, target: str, force: bool = False,
           lazy: bool = False, timeout: float = 60.0) -> None:
    """Unmount the file system mounted on ``target`` below the mount root.

    ``force`` and ``lazy`` map to ``umount -f``/``-l`` (for an
    unreachable NFS server). The target is not opened, so a hung mount
    cannot hang the check. Raises MountError when nothing is mounted there
    or umount(8) fails.
    """
    _check_timeout(timeout)
    root, parts = _split_target(ctx, target)
    real_target = confine.join(root, parts)
    if real_target not in mount_points():
        raise MountError(f"{target} is not mounted")
    argv = ["umount"] + (["-f"] if force else []) + (["-l"] if lazy else [])
    argv += ["--", real_target]
    try:
        commands.run(argv, timeout=timeout)
    except commands.CommandError as e:
        raise MountError(
            f"unmount of {target} failed: {e.reason}: {e.err.strip()[:500]}") \
            from None


def _split_target(ctx: OpContext, target: str) -> tuple[str, list[str]]:
    root, parts = confine.split_confined(target, [ctx.config.mount_root])
    if not parts:
        raise InvalidParameter("the mount root itself cannot be a target")
    return root, parts


def _check_timeout(timeout: float) -> None:
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise InvalidParameter(f"timeout must be 1..{MAX_TIMEOUT:g} s")


def _check_spec(spec: str, vfs_type: str) -> None:
    if vfs_type in LOCAL_VFS:
        if not spec.startswith("/dev/") or "/../" in spec:
            raise InvalidParameter(f"{vfs_type} spec must be a device: {spec!r}")
        try:
            st = os.stat(spec)
        except OSError as e:
            raise InvalidParameter(f"cannot use {spec}: {e.strerror}") from None
        if not stat.S_ISBLK(st.st_mode):
            raise InvalidParameter(f"{spec} is not a block device")
        return
    pattern = _TMPFS_SPEC if vfs_type == "tmpfs" else _REMOTE_SPEC
    if spec.startswith("-") or not pattern.fullmatch(spec):
        raise InvalidParameter(f"invalid {vfs_type} spec: {spec[:200]!r}")


def _check_options(options: str | None) -> list[str]:
    """The option list to pass, with nosuid and nodev added."""
    items = [o for o in (options or "").split(",") if o]
    for item in items:
        key = item.partition("=")[0]
        if not _OPTION.fullmatch(item):
            raise InvalidParameter(f"invalid mount option: {item[:200]!r}")
        if key in _FORBIDDEN_OPTIONS or key.lower().startswith("x-"):
            raise InvalidParameter(f"mount option {key!r} is not allowed")
    return items + [o for o in ("nosuid", "nodev") if o not in items]


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> set[str]:
    """The mount points currently in this mount namespace."""
    with open(mountinfo) as f:
        return {_unescape(line.split()[4]) for line in f if line.strip()}


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
