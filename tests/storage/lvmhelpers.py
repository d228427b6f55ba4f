"""Real LVM for tests: bare loop devices on sparse files, unique VG names.

Loop devices are detached by name and their files removed in finally
blocks; LVM's archive files of the test's VGs are removed too, so nothing
is left under /etc/lvm.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from vdsm.common import commands

need_lvm = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("lvm") is None,
    reason="needs root and lvm2 (scripts/install-deps.sh) for loop devices")


@contextlib.contextmanager
def loop_devices(count: int = 1, size_mb: int = 2048) -> Iterator[list[str]]:
    """``count`` loop devices over sparse files under /tmp."""
    directory = tempfile.mkdtemp(prefix="vdsm-lvm-", dir="/tmp")
    devices: list[str] = []
    try:
        for i in range(count):
            image = os.path.join(directory, f"lun{i}.img")
            with open(image, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)
            devices.append(commands.run(["losetup", "-f", "--show", image],
                                        timeout=30).out.strip())
        yield devices
    finally:
        for device in devices:
            commands.run(["losetup", "-d", device], timeout=30, check=False)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def vg_names(count: int = 1) -> Iterator[list[str]]:
    """Fresh VG names; their LVM archive files are removed afterwards."""
    names = [f"vdsmtest-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    try:
        yield names
    finally:
        for name in names:
            forget_archives(name)


def forget_archives(name: str) -> None:
    """Remove LVM's archive and backup files of VG ``name``."""
    for path in glob.glob(f"/etc/lvm/archive/{name}_*.vg") + \
            glob.glob(f"/etc/lvm/backup/{name}"):
        os.unlink(path)
