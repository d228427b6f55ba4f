"""Trim the file systems inside a RAW disk image (sparsify without
libguestfs).

The image (a file volume under the storage mount root, not in use) is
attached to a loop device with its partitions; every partition (or the
whole device) holding an ext2/3/4 or xfs file system is mounted in a
private temporary directory (nosuid,nodev,noexec) and ``fstrim`` run on
it: the loop driver punches the freed ranges out of the image file. Then
everything is unmounted and the loop device detached, whatever failed.

Mounting a guest's file system exposes the host kernel to whatever the
guest wrote there, so the storage subsystem calls this only when
``irs.sparsify_host_trim`` allows it; ``virt-sparsify`` (an appliance)
is preferred where installed.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import tempfile

from vdsm.common import commands
from vdsm.common.errors import InvalidParameter
from vdsm.supervdsm import confine
from vdsm.supervdsm.errors import MountError
from vdsm.supervdsm.ops import OpContext, operation

log = logging.getLogger(__name__)

TRIMMABLE = frozenset({"ext2", "ext3", "ext4", "xfs"})
TIMEOUT = 600.0


@operation
def trim_image(ctx: OpContext, *, path: str) -> dict[str, int]:
    """Trim the file systems of the RAW image ``path`` (a regular file below
    the storage mount root); answer {partition: bytes trimmed}.

    Raises InvalidParameter (path outside the mount root, a symlink, not a
    regular file), MountError (loop, mount, fstrim or umount failed)."""
    root, parts = confine.split_confined(path, [ctx.config.mount_root])
    if not parts:
        raise InvalidParameter(f"{path} is not a file")
    with confine.open_dir(root, parts[:-1]) as dir_fd:
        try:
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidParameter(f"{path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidParameter(f"{path} is not a regular file")
    loop = _run(["losetup", "--find", "--show", "--partscan",
                 confine.join(root, parts)]).strip()
    try:
        devices = sorted(glob.glob(loop + "p*")) or [loop]
        return {dev: n for dev in devices if (n := _trim_device(dev)) is not None}
    finally:
        _run(["losetup", "--detach", loop])


def _trim_device(device: str) -> int | None:
    """Bytes fstrim reported for ``device``, None without a trimmable fs."""
    fs_type = commands.run(["blkid", "-o", "value", "-s", "TYPE", device],
                           timeout=60, check=False).out.strip()
    if fs_type not in TRIMMABLE:
        log.info("%s: no trimmable file system (%r)", device, fs_type)
        return None
    target = tempfile.mkdtemp(prefix="vdsm-trim-")
    try:
        _run(["mount", "-t", fs_type, "-o", "nosuid,nodev,noexec", device, target])
        try:
            out = _run(["fstrim", "--verbose", target])
        finally:
            _run(["umount", target])
    finally:
        os.rmdir(target)
    # "/tmp/vdsm-trim-x: 209715200 bytes (200 MiB) trimmed"
    words = out.split()
    trimmed = int(words[words.index("bytes") - 1]) if "bytes" in words else 0
    log.info("%s (%s): %d bytes trimmed", device, fs_type, trimmed)
    return trimmed


def _run(argv: list[str]) -> str:
    try:
        return commands.run(argv, timeout=TIMEOUT).out
    except commands.CommandError as e:
        raise MountError(f"{argv[0]} failed: {e.reason}: {e.err.strip()[:300]}") \
            from None
