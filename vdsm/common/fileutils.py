"""Small local file helpers shared by the daemons and their tools."""

from __future__ import annotations

import os


def write_atomic(path: str, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data``: written beside, fsynced, renamed, the
    directory fsynced, so a reader (or a crash) sees the old file or the
    new one, never half of either. Raises OSError; a failed write leaves
    no temporary file."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
