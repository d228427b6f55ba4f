"""Sparsify a volume in place: give back to the storage the blocks its
guest no longer uses.

Two kinds of dead blocks, two passes:

* blocks of deleted files (non-zero data a file system no longer
  references): ``virt-sparsify --in-place`` when installed (the guest's
  file systems are trimmed inside a libguestfs appliance); else, when the
  host is allowed to (``irs.sparsify_host_trim``), supervdsm attaches a RAW
  volume to a loop device, mounts each file system on it and runs
  ``fstrim``: the loop driver punches the freed ranges out of the file;
* zeroed blocks: ``qemu-img convert`` to a sparse temporary file next to
  the volume (zero detection, same format, same backing file) renamed over
  it, so the volume is either the old file or the whole new one.

Only file volumes: an LV's allocation is its size. The caller holds the
image lock (no VM may use the volume meanwhile) and runs this as an SPM
task; ``sparsify`` is also what an SDM job would call.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from typing import Any, Callable

from vdsm.common import commands
from vdsm.storage import qemuimg
from vdsm.storage.domains.file.volume import FileVolume
from vdsm.storage.domains.volume import Volume
from vdsm.storage.errors import ImagesActionError

log = logging.getLogger(__name__)

VIRT_SPARSIFY = "virt-sparsify"
TIMEOUT = 3600.0
_QEMU_FORMATS = {"RAW": "raw", "COW": "qcow2"}

# ``trim(path)``: the privileged fstrim of a RAW image's file systems
# (supervdsm's trim_image); answers {device: bytes trimmed}.
Trim = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Result:
    before: int       # bytes allocated on storage before
    after: int
    tool: str         # what reclaimed the deleted files' blocks

    def as_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "tool": self.tool}


def sparsify(vol: Volume, *, trim: Trim | None = None,
             virt_sparsify: str | None = None) -> Result:
    """Reclaim the unused and zeroed blocks of ``vol`` (not in use).

    ``trim`` is the host file system trim (None: not allowed here);
    ``virt_sparsify`` the tool's path (default: looked up in PATH).
    Raises ImagesActionError (a block volume, a tool failing)."""
    if not isinstance(vol, FileVolume):
        raise ImagesActionError(f"Cannot sparsify {vol.vol_uuid}: only file "
                                "volumes give space back")
    md = vol.metadata()
    fmt = _QEMU_FORMATS.get(md.format)
    if fmt is None:
        raise ImagesActionError(f"Cannot sparsify {vol.vol_uuid}: format {md.format}")
    before = allocated(vol)
    tool = "qemu-img"
    tool_path = virt_sparsify or shutil.which(VIRT_SPARSIFY)
    if tool_path:
        _run([tool_path, "--in-place", "--format", fmt, vol.path], vol)
        tool = VIRT_SPARSIFY
    elif trim is not None and fmt == "raw":
        trimmed = trim(vol.path)
        log.info("volume %s: file systems trimmed on the host: %s", vol.vol_uuid,
                 trimmed)
        tool = "fstrim"
    drop_zeroes(vol, fmt=fmt)
    result = Result(before=before, after=allocated(vol), tool=tool)
    log.info("volume %s sparsified with %s: %d -> %d bytes allocated",
             vol.vol_uuid, tool, result.before, result.after)
    return result


def drop_zeroes(vol: FileVolume, *, fmt: str, timeout: float = TIMEOUT) -> None:
    """Rewrite the volume with its zeroed blocks left out, atomically: the
    copy goes to a hidden temporary file in the same directory (qemu-img
    flushes it when it closes it) and is renamed over the original, mode
    kept; the backing file named in a qcow2 header stays. File calls go
    through the volume's FileOps (a helper process in the daemon)."""
    ops, path = vol.ops, vol.path
    directory, name = os.path.split(path)
    tmp_name = f".{name}.sparsify.tmp"
    tmp = os.path.join(directory, tmp_name)
    ops.unlink(tmp)      # left by an interrupted earlier run (missing is fine)
    info = qemuimg.info(path, fmt=fmt)
    backing = info.get("backing-filename")
    try:
        qemuimg.convert(name, tmp_name, src_format=fmt, dst_format=fmt,
                        backing=backing,
                        backing_format=info.get("backing-filename-format", "raw")
                        if backing else None,
                        cwd=directory, timeout=timeout)
        ops.chmod(tmp, ops.stat(path)["mode"] & 0o7777)
        ops.rename(tmp, path)
    except BaseException:
        ops.unlink(tmp)
        raise
    ops.fsync_dir(directory)


def allocated(vol: FileVolume) -> int:
    return int(vol.ops.stat(vol.path)["allocated"])


def _run(argv: list[str], vol: Volume) -> None:
    try:
        commands.run(argv, timeout=TIMEOUT)
    except commands.CommandError as e:
        raise ImagesActionError(f"Cannot sparsify {vol.vol_uuid}: {e.reason}: "
                                f"{e.err.strip()[:500]}") from None
