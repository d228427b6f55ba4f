"""The process's one libvirt event loop thread.

libvirt delivers domain events, keepalive checks and connection-close
notices only while someone runs its event loop. libvirt allows a single
default loop per process, registered before the first connection, so this
module owns it: :func:`start` registers it once and runs the thread,
:func:`stop` ends the thread when its last user is gone. Callbacks run on
this thread and must return quickly.
"""

from __future__ import annotations

import logging
import threading

import libvirt

log = logging.getLogger(__name__)

_lock = threading.Lock()
_registered = False
_users = 0
_stopping = False
_thread: threading.Thread | None = None


def _quiet(ctx: object, error: object) -> None:
    """libvirt prints every error on stderr by default; we log where caught."""


def start() -> None:
    """Register the default loop (once) and run the thread. Thread-safe."""
    global _registered, _users, _stopping, _thread
    with _lock:
        if not _registered:
            libvirt.registerErrorHandler(_quiet, None)
            libvirt.virEventRegisterDefaultImpl()
            _registered = True
        _users += 1
        _stopping = False
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="libvirt-events",
                                       daemon=True)
            _thread.start()


def stop(timeout: float = 5.0) -> None:
    """Drop one user; the last one ends the thread (bounded wait)."""
    global _users, _stopping
    with _lock:
        _users = max(0, _users - 1)
        if _users or _thread is None:
            return
        _stopping = True
        thread = _thread
    # Wake the loop so it sees the flag.
    libvirt.virEventAddTimeout(0, _wake_once, None)
    thread.join(timeout)
    if thread.is_alive():
        log.warning("libvirt event loop did not stop in %.1f s", timeout)


def running() -> bool:
    return _thread is not None and _thread.is_alive()


def _wake_once(timer: int, opaque: object) -> None:
    libvirt.virEventRemoveTimeout(timer)


def _run() -> None:
    log.info("libvirt event loop started")
    while True:
        with _lock:
            if _stopping:
                break
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            log.exception("libvirt event loop iteration failed")
    log.info("libvirt event loop stopped")
