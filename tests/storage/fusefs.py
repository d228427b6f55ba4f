"""freezefs (tests/storage/freezefs.c): a FUSE pass-through a test can hang.

Compiled at test time against libfuse3 into the test cache directory.
``freeze()`` stops the daemon (SIGSTOP): new accesses to the mount wait
as on a dead NFS server; ``thaw()`` lets them go on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess

from tests.storage.helpers import CACHE_DIR, HERE, wait_for
from vdsm.common import commands
from vdsm.storage.connections import mounts

SOURCE = os.path.join(HERE, "freezefs.c")


def unavailable() -> str | None:
    """Why freezefs cannot run here, or None."""
    if os.geteuid() != 0:
        return "FUSE mounts need root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if shutil.which("gcc") is None or shutil.which("pkg-config") is None:
        return "gcc and pkg-config are needed to build freezefs"
    if commands.run(["pkg-config", "--exists", "fuse3"], check=False).rc != 0:
        return "libfuse3-dev is not installed"
    return None


def build(source: str = SOURCE, name: str = "freezefs") -> str:
    """A libfuse3 C program of the tests, compiled once into the cache.

    The binary is named by the source's digest: checkouts of different
    versions (worktrees, branches) never run each other's build."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    binary = os.path.join(CACHE_DIR, f"{name}-{digest}")
    if os.path.exists(binary):
        return binary
    flags = commands.run(["pkg-config", "--cflags", "--libs", "fuse3"]).out.split()
    tmp = f"{binary}.{os.getpid()}"
    commands.run(["gcc", "-O2", "-Wall", "-o", tmp, source, *flags], timeout=120)
    os.replace(tmp, binary)
    return binary


def stop_daemon(proc: subprocess.Popen, mountpoint: str) -> None:
    """Unmount a FUSE daemon's mount (lazily if busy), then stop it by pid."""
    if mounts.find_mount(mountpoint) is not None:
        if commands.run(["umount", mountpoint], timeout=10,
                        check=False).rc != 0:
            commands.run(["umount", "-l", mountpoint], timeout=10, check=False)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stderr:
        proc.stderr.close()


class FreezeFs:
    def __init__(self, backing: str, mountpoint: str) -> None:
        self.backing = backing
        self.mountpoint = mountpoint
        self.proc: subprocess.Popen | None = None
        self.frozen = False

    def start(self) -> FreezeFs:
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mountpoint, exist_ok=True)
        self.proc = subprocess.Popen(
            [build(), "-f", "-o", "default_permissions,allow_other",
             self.backing, self.mountpoint],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: mounts.find_mount(self.mountpoint) is not None
                 or self.proc.poll() is not None, 10, "the FUSE mount")
        if self.proc.poll() is not None:
            raise RuntimeError(f"freezefs failed: {self.proc.stderr.read()!r}")
        return self

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.proc is not None and self.frozen:
            self.proc.send_signal(signal.SIGCONT)
            self.frozen = False

    def stop(self) -> None:
        """Thaw, unmount (lazily if busy) and stop the daemon by pid."""
        if self.proc is None:
            return
        self.thaw()
        stop_daemon(self.proc, self.mountpoint)
