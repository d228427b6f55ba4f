"""Privileged work of block storage domains that is not LVM itself.

A block domain's master file system lives on its ``master`` LV,
``<[irs] lv_dir>/<VG>/master``, mounted at ``<mount root>/blockSD/<VG>/
master``; making and mounting that file system is root's work. Both ops
take only the VG name (a domain UUID) and build the paths themselves, so
no caller can point mkfs or mount at any other device or directory.
Unmounting is the general ``umount`` op (the target is below the mount
root).
"""

from __future__ import annotations

import logging
import os
import re
import stat

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.storage import constants as sc
from vdsm.storage.domains.block.errors import StorageDomainCreationError
from vdsm.supervdsm import confine, ops_mount
from vdsm.supervdsm.errors import MountError
from vdsm.supervdsm.ops import OpContext, operation

log = logging.getLogger(__name__)

MASTER_LV = "master"
MAX_TIMEOUT = 600.0
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def master_path(ctx: OpContext, vg: str) -> str:
    """The master LV of domain VG ``vg``; InvalidParameter for a name that
    is not a domain UUID."""
    if not _UUID.fullmatch(vg):
        raise InvalidParameter(f"not a storage domain VG name: {vg[:100]!r}")
    return os.path.join(str(ctx.config.get("irs", "lv_dir")), vg, MASTER_LV)


def master_target(ctx: OpContext, vg: str) -> str:
    """Where domain ``vg``'s master file system is mounted."""
    return os.path.join(ctx.config.mount_root, sc.BLOCK_SD_DIR, vg, MASTER_LV)


def _master_device(ctx: OpContext, vg: str, timeout: float) -> str:
    """The master LV's path, checked. The LV must be a block device; a
    regular file is accepted only with ``[irs] lv_activation = false``
    (hosts where something other than device-mapper serves the LVs)."""
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise InvalidParameter(f"timeout must be 1..{MAX_TIMEOUT:g} s")
    path = master_path(ctx, vg)
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidParameter(f"cannot use {path}: {e.strerror}") from None
    files_allowed = not ctx.config.get("irs", "lv_activation")
    if not (stat.S_ISBLK(st.st_mode) or (files_allowed and stat.S_ISREG(st.st_mode))):
        raise InvalidParameter(f"{path} is not a block device")
    return path


@operation
def mkfs_master(ctx: OpContext, *, vg: str, timeout: float = 300.0) -> None:
    """Make an ext4 file system on the master LV of domain ``vg``, its root
    owned by the caller (vdsmd writes tasks and VM data there).

    Raises InvalidParameter for a bad name, a missing LV, one that is not
    a block device or a timeout outside 1..600 s;
    StorageDomainCreationError when mkfs fails.
    """
    path = _master_device(ctx, vg, timeout)
    owner = f"{ctx.peer.uid}:{ctx.peer.gid}"
    argv = ["mkfs.ext4", "-q", "-F", "-E",
            f"nodiscard,lazy_itable_init=1,lazy_journal_init=1,root_owner={owner}",
            path]
    try:
        commands.run(argv, timeout=timeout)
    except commands.CommandError as e:
        raise StorageDomainCreationError(f"mkfs of {path} failed: {e.reason}: "
                              f"{e.err.strip()[:500]}") from None
    log.info("made the master file system of %s", vg)


@operation
def mount_master(ctx: OpContext, *, vg: str, timeout: float = 60.0) -> None:
    """Mount domain ``vg``'s master LV (ext4, nosuid, nodev) on its
    directory below the mount root, which must exist and not be a mount
    point already (the caller makes it: it owns the mount root).

    Raises InvalidParameter (see mkfs_master; a target that is missing or
    a symlink), MountError when already mounted or mount(8) fails.
    """
    device = _master_device(ctx, vg, timeout)
    root, parts = confine.split_confined(master_target(ctx, vg),
                                         [ctx.config.mount_root])
    with confine.open_dir(root, parts):
        target = confine.join(root, parts)
    if target in ops_mount.mount_points():
        raise MountError(f"{target} is already a mount point")
    try:
        commands.run(["mount", "-t", "ext4", "-o", "nosuid,nodev", "--", device,
                      target], timeout=timeout)
    except commands.CommandError as e:
        raise MountError(f"mount of {device} on {target} failed: {e.reason}: "
                         f"{e.err.strip()[:500]}") from None
    log.info("mounted the master file system of %s", vg)
