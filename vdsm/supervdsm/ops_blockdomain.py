"""Privileged work of block storage domains that is not LVM itself.

A block domain's master file system lives on its ``master`` LV,
``<[irs] lv_dir>/<VG>/master``; making that file system writes to a
device vdsmd may not open for formatting, so supervdsmd does it. The op
takes only the VG name (a domain UUID) and builds the path itself, so no
caller can point mkfs at any other device.
"""

from __future__ import annotations

import logging
import os
import re
import stat

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.storage.domains.block.errors import StorageDomainCreationError
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


@operation
def mkfs_master(ctx: OpContext, *, vg: str, timeout: float = 300.0) -> None:
    """Make an ext4 file system on the master LV of domain ``vg``, its root
    owned by the caller (vdsmd writes tasks and VM data there).

    The LV must be a block device; a regular file is accepted only with
    ``[irs] lv_activation = false`` (hosts where something other than
    device-mapper serves the LVs). Raises InvalidParameter for a bad name,
    a missing LV or a timeout outside 1..600 s, StorageDomainCreationError when
    mkfs fails.
    """
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
