"""Which LVs of block domains this host has active, and for whom.

Device-mapper state is per host, while users of an LV are many: two
prepares of one image, two images whose VMs share a template, the SPM
creating a snapshot on a chain a VM runs. :class:`Activations` counts
users per (VG, LV): the first acquire activates (``lvchange -ay``), the
last release deactivates, so nobody pulls an LV from under another user.

With ``VGAccess.activation`` False (hosts without device-mapper, where
something else serves ``<lv_dir>/<VG>/<LV>``) no ``lvchange`` runs; as
udev settling on real hosts, every activation still waits, bounded, until
the LV's path exists, and a refresh until the path shows the LV's current
size (read with lseek, which works on block devices and files).

Thread-safe: one lock per LV, so a slow ``lvchange`` of one LV does not
hold up another.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

from vdsm.storage.domains.block.vgaccess import VGAccess
from vdsm.storage.lvm_errors import (
    CannotActivateLogicalVolume,
    LogicalVolumeRefreshError,
)

log = logging.getLogger(__name__)

WAIT_TIMEOUT = 10.0      # seconds for an LV's path to appear or grow
POLL_INTERVAL = 0.05


def device_size(path: str) -> int:
    """Size in bytes of a block device or file (OSError if missing)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


class Activations:
    """Per-host user counts of active LVs."""

    def __init__(self, *, timeout: float = WAIT_TIMEOUT,
                 interval: float = POLL_INTERVAL) -> None:
        self.timeout = timeout
        self.interval = interval
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._lv_locks: dict[tuple[str, str], threading.Lock] = {}

    def count(self, vg_name: str, lv: str) -> int:
        """How many users hold ``lv`` active on this host."""
        with self._lock:
            return self._counts.get((vg_name, lv), 0)

    def acquire(self, vg: VGAccess, lvs: Sequence[str]) -> None:
        """Hold ``lvs`` active (the chain, base first), activating those
        nobody held. All or nothing: on CannotActivateLogicalVolume the
        ones taken here are released again."""
        done: list[str] = []
        try:
            for lv in lvs:
                self._acquire_one(vg, lv)
                done.append(lv)
        except BaseException:
            self.release(vg, list(reversed(done)))
            raise

    def release(self, vg: VGAccess, lvs: Sequence[str]) -> None:
        """Drop one use of each of ``lvs`` (leaf first), deactivating the
        LVs nobody holds any more. Releasing an LV not held is logged and
        ignored (a teardown after a failed prepare). Raises
        CannotDeactivateLogicalVolume after trying every LV."""
        error: Exception | None = None
        for lv in lvs:
            try:
                self._release_one(vg, lv)
            except Exception as e:
                log.warning("cannot deactivate %s/%s: %s", vg.sd_uuid, lv, e)
                error = error or e
        if error is not None:
            raise error

    def refresh(self, vg: VGAccess, lv: str) -> int:
        """Make this host see ``lv``'s current size (another host, the SPM,
        extended it); returns that size. Raises LogicalVolumeRefreshError."""
        vg.lvm.invalidate(vg.sd_uuid)
        size = vg.lvm.lv(vg.sd_uuid, lv).size
        with self._lv_lock(vg.sd_uuid, lv):
            if vg.activation:
                vg.lvm.refresh(vg.sd_uuid, lv)
            path = vg.lv_path(lv)
            seen = self._wait(lambda: _size_or_none(path) == size)
            if not seen:
                raise LogicalVolumeRefreshError(
                    f"{path} did not show the size {size} of {vg.sd_uuid}/{lv} "
                    f"within {self.timeout}s (it has {_size_or_none(path)})")
        log.info("refreshed %s/%s: %d bytes", vg.sd_uuid, lv, size)
        return size

    def _acquire_one(self, vg: VGAccess, lv: str) -> None:
        key = (vg.sd_uuid, lv)
        with self._lv_lock(*key):
            if self.count(*key) == 0:
                if vg.activation:
                    vg.lvm.activate(vg.sd_uuid, lv)
                path = vg.lv_path(lv)
                if not self._wait(lambda: os.path.exists(path)):
                    if vg.activation:
                        vg.lvm.deactivate(vg.sd_uuid, lv)
                    raise CannotActivateLogicalVolume(
                        f"{path} did not appear within {self.timeout}s")
                log.info("activated %s/%s", *key)
            with self._lock:
                self._counts[key] = self._counts.get(key, 0) + 1

    def _release_one(self, vg: VGAccess, lv: str) -> None:
        key = (vg.sd_uuid, lv)
        with self._lv_lock(*key):
            count = self.count(*key)
            if count == 0:
                log.warning("release of %s/%s, which this host does not hold",
                            *key)
                return
            if count == 1:
                if vg.activation:
                    vg.lvm.deactivate(vg.sd_uuid, lv)
                log.info("deactivated %s/%s", *key)
            with self._lock:
                if count == 1:
                    del self._counts[key]
                else:
                    self._counts[key] = count - 1

    def _lv_lock(self, vg_name: str, lv: str) -> threading.Lock:
        with self._lock:
            return self._lv_locks.setdefault((vg_name, lv), threading.Lock())

    def _wait(self, ready: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + self.timeout
        while True:
            if ready():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.interval)


def _size_or_none(path: str) -> int | None:
    try:
        return device_size(path)
    except FileNotFoundError:
        return None


_HOST = Activations()


def host_activations() -> Activations:
    """This host's one registry (device-mapper state is per host)."""
    return _HOST
