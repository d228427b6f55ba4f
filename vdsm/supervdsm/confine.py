"""Keep a privileged op's path inside the agent's own directories.

A path is accepted only when it is absolute, has no ``.``/``..``
components, and lies under one of the given roots (the configured run,
state, log and storage directories). The roots themselves are trusted;
below them every component is opened with ``O_NOFOLLOW`` relative to its
parent, so a symlink planted by an unprivileged user (``run/vdsm/x ->
/etc``) is refused instead of followed, and the op then works on the
directory file descriptor it verified.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import Iterable, Iterator

from vdsm.common.errors import InvalidParameter

MAX_PATH = 4096
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split_confined(path: str, roots: Iterable[str]) -> tuple[str, list[str]]:
    """Return (real root, components below it) for ``path``.

    The deepest matching root wins. Raises InvalidParameter when the path
    is malformed or outside every root.
    """
    if not path.startswith("/"):
        raise InvalidParameter(f"path must be absolute: {path!r}")
    if "\0" in path or len(path) > MAX_PATH:
        raise InvalidParameter(f"invalid path: {path[:100]!r}")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidParameter(f"path must not contain '.' or '..': {path!r}")
    best: tuple[str, list[str]] | None = None
    for root in roots:
        for form in dict.fromkeys((os.path.normpath(root),
                                   os.path.realpath(root))):
            root_parts = [p for p in form.split("/") if p]
            if parts[:len(root_parts)] != root_parts:
                continue
            rest = parts[len(root_parts):]
            if best is None or len(rest) < len(best[1]):
                best = (os.path.realpath(root), rest)
    if best is None:
        raise InvalidParameter(
            f"path {path!r} is outside the directories supervdsm may touch")
    return best


@contextlib.contextmanager
def open_dir(root: str, parts: list[str]) -> Iterator[int]:
    """Yield an O_PATH fd of ``root/parts...``, following no symlink below root.

    Raises InvalidParameter when a component is missing, a symlink, or not
    a directory.
    """
    fd = os.open(root, _DIR_FLAGS)
    try:
        for i, part in enumerate(parts):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                raise walk_error(e, root, parts[:i + 1], fd) from None
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def walk_error(e: OSError, root: str, parts: list[str],
               dir_fd: int) -> InvalidParameter:
    """The error for failing to open ``parts[-1]`` in ``dir_fd``."""
    where = os.path.join(root, *parts)
    if e.errno == errno.ENOTDIR and _is_symlink(parts[-1], dir_fd):
        return InvalidParameter(f"{where} is a symbolic link")
    if e.errno == errno.ELOOP:
        return InvalidParameter(f"{where} is a symbolic link")
    if e.errno == errno.ENOTDIR:
        return InvalidParameter(f"{where} is not a directory")
    if e.errno == errno.ENOENT:
        return InvalidParameter(f"{where} does not exist")
    return InvalidParameter(f"cannot open {where}: {e.strerror}")


def _is_symlink(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd,
                                    follow_symlinks=False).st_mode)
    except OSError:
        return False


def join(root: str, parts: list[str]) -> str:
    return os.path.join(root, *parts)
