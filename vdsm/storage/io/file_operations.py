"""File operations on storage, as small functions with JSON-able results.

The same functions run in the daemon (:class:`LocalFileOps`) or in a helper
process (:mod:`vdsm.storage.io.worker`, reached through
:class:`vdsm.storage.io.out_of_process.OopFileOps`), so that a call on a dead NFS server
blocks a helper, never a daemon thread. Both raise ``OSError`` with the
real errno, so callers handle ``FileNotFoundError`` & co. the same way.

Writes that others read (metadata) are atomic: temp file, fsync, rename,
fsync of the directory.
"""

from __future__ import annotations

import errno
import glob as _glob
import mmap
import os
import shutil
import time
import uuid
from typing import Any

_DIRECT_CHUNK = 64 * 1024


def read_file(path: str, direct: bool = False) -> bytes:
    """The whole file; ``direct`` bypasses the page cache (O_DIRECT).

    Falls back to a buffered read where the file system refuses O_DIRECT
    (tmpfs), dropping cached pages first.
    """
    if direct:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
        else:
            try:
                return _read_direct(fd)
            finally:
                os.close(fd)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if direct:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        chunks = []
        while chunk := os.read(fd, 1024 * 1024):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _read_direct(fd: int) -> bytes:
    buf = mmap.mmap(-1, _DIRECT_CHUNK)  # page aligned, as O_DIRECT needs
    try:
        data = bytearray()
        while True:
            n = os.readv(fd, [buf])
            data += buf[:n]
            if n < _DIRECT_CHUNK:
                return bytes(data)
    finally:
        buf.close()


def read_block(path: str, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``, read with O_DIRECT (short at the end).

    ``offset`` and ``size`` must be multiples of 4096. Falls back to a
    buffered read where the file system refuses O_DIRECT (tmpfs).
    """
    fd = _open_direct(path, os.O_RDONLY)
    try:
        buf = mmap.mmap(-1, size)  # page aligned, as O_DIRECT needs
        try:
            n = os.preadv(fd, [buf], offset)
            return bytes(buf[:n])
        finally:
            buf.close()
    finally:
        os.close(fd)


def write_block(path: str, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` in one O_DIRECT write, never truncating.

    Used where several hosts write their own blocks of one shared file
    (the mailbox): the whole block lands at once, not through the page
    cache. ``offset`` and ``len(data)`` must be multiples of 4096.
    """
    fd = _open_direct(path, os.O_WRONLY)
    try:
        buf = mmap.mmap(-1, len(data))
        try:
            buf[:] = data
            n = os.pwritev(fd, [buf], offset)
        finally:
            buf.close()
        if n != len(data):
            raise OSError(errno.EIO, f"short write {n}/{len(data)}", path)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _open_direct(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
    return os.open(path, flags | os.O_DSYNC | os.O_CLOEXEC)


def write_atomic(path: str, data: bytes, mode: int = 0o660) -> None:
    """Replace ``path`` with ``data`` atomically (temp, fsync, rename)."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_file(path: str, mode: int = 0o660, size: int = 0) -> None:
    """Create a new (sparse) file; FileExistsError if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        if size:
            os.ftruncate(fd, size)
    finally:
        os.close(fd)


def truncate(path: str, size: int) -> None:
    os.truncate(path, size)


def preallocate(path: str, size: int) -> None:
    """Allocate ``size`` bytes for real (fallocate), growing the file."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)


def exists(path: str) -> bool:
    return os.path.exists(path)


def listdir(path: str) -> list[str]:
    return sorted(os.listdir(path))


def glob(pattern: str) -> list[str]:
    return sorted(_glob.glob(pattern))


def makedirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def mkdir(path: str, mode: int = 0o755) -> None:
    os.mkdir(path, mode)


def unlink(path: str, missing_ok: bool = True) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


def rmdir(path: str) -> None:
    os.rmdir(path)


def rmtree(path: str) -> None:
    shutil.rmtree(path)


def rename(src: str, dst: str) -> None:
    os.rename(src, dst)


def chmod(path: str, mode: int) -> None:
    os.chmod(path, mode)


def link(src: str, dst: str) -> None:
    os.link(src, dst)


def symlink(target: str, path: str) -> None:
    """Point ``path`` at ``target``, replacing an existing link atomically."""
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    os.symlink(target, tmp)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def stat(path: str) -> dict[str, Any]:
    st = os.stat(path)
    return {"size": st.st_size, "allocated": st.st_blocks * 512,
            "mtime": st.st_mtime, "ctime": st.st_ctime, "mode": st.st_mode,
            "uid": st.st_uid, "gid": st.st_gid, "isdir": os.path.isdir(path)}


def statvfs(path: str) -> dict[str, int]:
    st = os.statvfs(path)
    return {"total": st.f_blocks * st.f_frsize, "free": st.f_bavail * st.f_frsize}


def readable(path: str) -> bool:
    """Whether this process may read ``path`` (getFileStats' status)."""
    return os.access(path, os.R_OK)


def access(path: str) -> bool:
    """Whether this process may read, write and enter ``path``."""
    return os.access(path, os.R_OK | os.W_OK | os.X_OK)


def check_read(path: str) -> float:
    """Seconds a direct read of ``path`` takes (the monitor's probe)."""
    start = time.monotonic()
    read_file(path, direct=True)
    return time.monotonic() - start


# Every operation the helper process accepts (its allowlist).
OPERATIONS = {f.__name__: f for f in (
    read_file, read_block, write_block, write_atomic, create_file, truncate,
    preallocate, exists, listdir, glob, makedirs, mkdir, unlink, rmdir, rmtree,
    rename, chmod, link, symlink, stat, statvfs, readable, access, check_read,
    fsync_dir)}


class FileOps:
    """Typed access to the operations above; subclasses choose where they run.

    Every method raises OSError as the underlying call would, and an
    out-of-process implementation adds AccessTimeout.
    """

    def _call(self, op: str, *args: Any) -> Any:
        raise NotImplementedError

    def read_file(self, path: str, direct: bool = False) -> bytes:
        return self._call("read_file", path, direct)

    def read_block(self, path: str, offset: int, size: int) -> bytes:
        return self._call("read_block", path, offset, size)

    def write_block(self, path: str, offset: int, data: bytes) -> None:
        self._call("write_block", path, offset, data)

    def write_atomic(self, path: str, data: bytes, mode: int = 0o660) -> None:
        self._call("write_atomic", path, data, mode)

    def create_file(self, path: str, mode: int = 0o660, size: int = 0) -> None:
        self._call("create_file", path, mode, size)

    def truncate(self, path: str, size: int) -> None:
        self._call("truncate", path, size)

    def preallocate(self, path: str, size: int) -> None:
        self._call("preallocate", path, size)

    def exists(self, path: str) -> bool:
        return self._call("exists", path)

    def listdir(self, path: str) -> list[str]:
        return self._call("listdir", path)

    def glob(self, pattern: str) -> list[str]:
        return self._call("glob", pattern)

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        self._call("makedirs", path, mode)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._call("mkdir", path, mode)

    def unlink(self, path: str, missing_ok: bool = True) -> None:
        self._call("unlink", path, missing_ok)

    def rmdir(self, path: str) -> None:
        self._call("rmdir", path)

    def rmtree(self, path: str) -> None:
        self._call("rmtree", path)

    def rename(self, src: str, dst: str) -> None:
        self._call("rename", src, dst)

    def chmod(self, path: str, mode: int) -> None:
        self._call("chmod", path, mode)

    def link(self, src: str, dst: str) -> None:
        self._call("link", src, dst)

    def symlink(self, target: str, path: str) -> None:
        self._call("symlink", target, path)

    def stat(self, path: str) -> dict[str, Any]:
        return self._call("stat", path)

    def statvfs(self, path: str) -> dict[str, int]:
        return self._call("statvfs", path)

    def readable(self, path: str) -> bool:
        return self._call("readable", path)

    def access(self, path: str) -> bool:
        return self._call("access", path)

    def fsync_dir(self, path: str) -> None:
        self._call("fsync_dir", path)

    def check_read(self, path: str) -> float:
        return self._call("check_read", path)

    def close(self) -> None:
        """Release whatever runs the operations."""


class LocalFileOps(FileOps):
    """Runs the operations in the calling thread (local paths, tests)."""

    def _call(self, op: str, *args: Any) -> Any:
        return OPERATIONS[op](*args)
