"""A private mount namespace with bind mounts, for a private libvirt.

A second libvirtd on the same machine needs its own /etc/libvirt,
/run/libvirt, /var/lib/libvirt, ... Privileged libvirtd has those paths
compiled in, so we give it a mount namespace where a directory tree of
ours is bind-mounted over them. Nothing outside that namespace changes.
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Sequence

log = logging.getLogger(__name__)

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_void_p]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _path(path: str | None) -> bytes | None:
    return os.fsencode(path) if path is not None else None


def parse_bind(spec: str) -> tuple[str, str]:
    """'SRC:DST' -> (SRC, DST); both must be absolute paths."""
    src, sep, dst = spec.partition(":")
    if not sep or not os.path.isabs(src) or not os.path.isabs(dst):
        raise ValueError(f"bind mount {spec!r} is not ABSOLUTE_SRC:ABSOLUTE_DST")
    return src, dst


def enter_private(binds: Sequence[tuple[str, str]]) -> None:
    """Leave the host's mount namespace, then bind each SRC over DST.

    Must be called while the process has a single thread. Raises OSError.
    """
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Stop our mounts from propagating back to the host (and vice versa).
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None),
           "making / private")
    for src, dst in binds:
        _check(libc.mount(_path(src), _path(dst), None, MS_BIND | MS_REC, None),
               f"bind mount {src} on {dst}")
        log.debug("bind mounted %s on %s", src, dst)
