"""The one wrapper around qemu-img.

Argument lists built here, run through :func:`vdsm.common.commands.run`
(timeout always), failures mapped to :class:`QemuImgError`, JSON output
checked before use. Formats are qemu's names ("raw", "qcow2").
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from vdsm.common import commands
from vdsm.storage import constants as sc
from vdsm.storage.errors import StorageError

log = logging.getLogger(__name__)

QEMU_IMG = "qemu-img"
RAW = "raw"
QCOW2 = "qcow2"
QCOW2_COMPAT = "1.1"
DEFAULT_TIMEOUT = 60.0
COPY_TIMEOUT = 6 * 3600.0

_FORMATS = {sc.RAW_FORMAT: RAW, sc.COW_FORMAT: QCOW2}


class QemuImgError(StorageError):
    """qemu-img failed; ``rc``, ``cmd`` and ``err`` are in the details."""

    name = "StorageException"
    default_message = "qemu-img failed"


def format_name(vol_format: int) -> str:
    """qemu format name for a classic volume format number."""
    return _FORMATS[vol_format]


def _run(argv: list[str], *, timeout: float, cwd: str | None = None) -> str:
    try:
        return commands.run(argv, timeout=timeout, cwd=cwd).out
    except commands.CommandError as e:
        raise QemuImgError(f"qemu-img {argv[1]} failed: {e.reason}: "
                           f"{e.err.strip()[:500]}", cmd=e.cmd, rc=e.rc,
                           err=e.err) from None


def create(path: str, *, size: int | None, fmt: str, backing: str | None = None,
           backing_format: str | None = None, preallocation: str | None = None,
           cwd: str | None = None, timeout: float = DEFAULT_TIMEOUT,
           check_backing: bool = True) -> None:
    """Create an image; a relative ``backing`` is resolved from ``path``'s
    directory (the classic chain stores bare volume UUIDs). With a size,
    ``check_backing`` False leaves out the read of the backing file (one
    ``qemu-img info``) where the caller has just made it."""
    argv = [QEMU_IMG, "create", "-f", fmt]
    options = []
    if fmt == QCOW2:
        options.append(f"compat={QCOW2_COMPAT}")
    if backing is not None:
        if backing_format is None:
            raise ValueError("backing_format is required with a backing file")
        argv += ["-b", backing, "-F", backing_format]
        if size is not None:
            # a running VM holds its parent's lock (a snapshot's new leaf is
            # made while the VM writes it): the parent is read with
            # force-share first (a missing or broken one still fails), then
            # qemu-img does not open it (-u)
            if check_backing:
                info(os.path.join(cwd or os.path.dirname(path), backing),
                     fmt=backing_format, timeout=timeout)
            argv.append("-u")
    if preallocation is not None:
        options.append(f"preallocation={preallocation}")
    if options:
        argv += ["-o", ",".join(options)]
    argv.append(path)
    if size is not None:
        argv.append(str(size))
    _run(argv, timeout=timeout, cwd=cwd)


def rebase(path: str, *, backing: str, backing_format: str | None,
           cwd: str | None = None, timeout: float = 3600.0) -> None:
    """``qemu-img rebase`` (safe mode) of a qcow2 onto ``backing`` ("" for
    none): what the image reads through its old chain is copied into it
    before the backing pointer changes, so it reads the same data at
    every moment. A relative ``backing`` is resolved from ``cwd``."""
    argv = [QEMU_IMG, "rebase", "-f", QCOW2, "-b", backing]
    if backing:
        if backing_format is None:
            raise ValueError("backing_format is required with a backing file")
        argv += ["-F", backing_format]
    argv.append(path)
    _run(argv, timeout=timeout, cwd=cwd)


def info(path: str, *, fmt: str | None = None, backing_chain: bool = False,
         timeout: float = DEFAULT_TIMEOUT) -> Any:
    """``qemu-img info --output=json``: a dict, or a list with the chain.

    Raises QemuImgError if qemu-img fails or answers something that is not
    the expected JSON.
    """
    argv = [QEMU_IMG, "info", "--output=json", "-U"]
    if fmt is not None:
        argv += ["-f", fmt]
    if backing_chain:
        argv.append("--backing-chain")
    argv.append(path)
    out = _run(argv, timeout=timeout)
    try:
        data = json.loads(out)
    except ValueError as e:
        raise QemuImgError(f"qemu-img info gave invalid JSON: {e}") from None
    for item in data if backing_chain else [data]:
        if not isinstance(item, dict) or "virtual-size" not in item \
                or "format" not in item:
            raise QemuImgError(f"unexpected qemu-img info output: {out[:200]}")
    return data


def convert(src: str, dst: str, *, src_format: str, dst_format: str,
            backing: str | None = None, backing_format: str | None = None,
            preallocation: str | None = None, create: bool = True,
            cache: str = "none", cwd: str | None = None,
            timeout: float = COPY_TIMEOUT) -> None:
    """Copy ``src`` (with its backing chain) to ``dst``.

    With ``backing`` the target keeps that backing file and only data that
    differs from it is written (copying one layer of a chain). Without
    ``create`` the target must exist (-n; an LV the caller made, whose
    format and backing are already in its header: qemu-img refuses -o
    then). ``cache`` "none" bypasses the page cache on both sides, so a
    large copy does not evict the host's.
    """
    argv = [QEMU_IMG, "convert", "-t", cache, "-T", cache,
            "-f", src_format, "-O", dst_format]
    options = []
    if dst_format == QCOW2 and create:
        options.append(f"compat={QCOW2_COMPAT}")
    if preallocation is not None and create:
        options.append(f"preallocation={preallocation}")
    if backing is not None:
        if backing_format is None and create:
            raise ValueError("backing_format is required with a backing file")
        argv += ["-B", backing]
        if create:
            options.append(f"backing_fmt={backing_format}")
    if options:
        argv += ["-o", ",".join(options)]
    if not create:
        argv.append("-n")
    argv += [src, dst]
    _run(argv, timeout=timeout, cwd=cwd)


def measure(path: str, *, src_format: str, dst_format: str,
            timeout: float = DEFAULT_TIMEOUT) -> int:
    """Bytes a copy of ``path`` (with its chain) needs in ``dst_format``
    (``qemu-img measure``'s "required"); sizes a destination LV before a
    copy. Raises QemuImgError."""
    out = _run([QEMU_IMG, "measure", "--output=json", "-U", "-f", src_format,
                "-O", dst_format, path], timeout=timeout)
    try:
        required = json.loads(out)["required"]
    except (ValueError, KeyError, TypeError) as e:
        raise QemuImgError(f"unexpected qemu-img measure output: {e}") from None
    if not isinstance(required, int):
        raise QemuImgError(f"unexpected qemu-img measure output: {out[:200]}")
    return required


def resize(path: str, size: int, *, fmt: str,
           timeout: float = DEFAULT_TIMEOUT) -> None:
    _run([QEMU_IMG, "resize", "-f", fmt, path, str(size)], timeout=timeout)


def check(path: str, *, fmt: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``qemu-img check`` as JSON; rc 2 (corruption) or 3 (leaks) still
    answer, other failures raise QemuImgError."""
    argv = [QEMU_IMG, "check", "--output=json", "-f", fmt, path]
    result = commands.run(argv, timeout=timeout, check=False)
    if result.rc not in (0, 2, 3):
        raise QemuImgError(f"qemu-img check failed rc={result.rc}: "
                           f"{result.err.strip()[:500]}", rc=result.rc)
    try:
        return json.loads(result.out)
    except ValueError as e:
        raise QemuImgError(f"qemu-img check gave invalid JSON: {e}") from None


def amend(path: str, *, compat: str, fmt: str = QCOW2,
          timeout: float = DEFAULT_TIMEOUT) -> None:
    """Change a qcow2 image's compat level in place ("0.10" or "1.1");
    raises QemuImgError."""
    _run([QEMU_IMG, "amend", "-f", fmt, "-o", f"compat={compat}", path],
         timeout=timeout)


def compare(first: str, second: str, *, first_format: str | None = None,
            second_format: str | None = None,
            timeout: float = COPY_TIMEOUT) -> bool:
    """Whether two images (with their chains) hold the same guest-visible
    data (``qemu-img compare``: rc 0 same, 1 different); the formats are
    probed unless given. Raises QemuImgError on other failures."""
    argv = [QEMU_IMG, "compare", "-U"]
    if first_format:
        argv += ["-f", first_format]
    if second_format:
        argv += ["-F", second_format]
    argv += [first, second]
    result = commands.run(argv, timeout=timeout, check=False)
    if result.rc not in (0, 1):
        raise QemuImgError(f"qemu-img compare failed rc={result.rc}: "
                           f"{result.err.strip()[:500]}", cmd=argv, rc=result.rc)
    return result.rc == 0
