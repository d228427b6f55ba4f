"""A private libvirtd + virtlogd for the virt tests (test aid).

Started with vds_bootstrap's own code (private mount namespace, libvirtd
under the child subreaper so killed QEMUs are reaped at once) and stopped
by pid. Never touches a system libvirt.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time

from vds_bootstrap import libvirt_conf, libvirt_setup
from vdsm.common import commands

DAEMONS = ("libvirtd", "virtlogd")
LAUNCHERS = ("subreaper-libvirtd", "subreaper-virtlogd")


def read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, SIGKILL after ``timeout``; bounded."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not alive(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _with_cgroups(controllers: tuple[str, ...], argv: list[str]) -> list[str]:
    """``argv`` run after mounting these cgroup v1 controllers: ``ip netns
    exec`` mounts a fresh /sys, which hides the host's cgroup mounts, and
    libvirt then says "cgroup CPU controller is not mounted". The mounts
    live in that command's own mount namespace only."""
    if not controllers:
        return argv
    script = "mount -t tmpfs cgroup /sys/fs/cgroup && " + " && ".join(
        f"mkdir -p /sys/fs/cgroup/{c} && mount -t cgroup -o {c} cgroup "
        f"/sys/fs/cgroup/{c}" for c in controllers) + ' && exec "$@"'
    return ["sh", "-c", script, "sh"] + argv


class PrivateLibvirt:
    """One private libvirt instance under a temporary directory."""

    def __init__(self, *, netns: str | None = None,
                 libvirtd_conf: dict[str, str | int] | None = None,
                 qemu_conf: dict[str, str | int] | None = None,
                 libvirtd_args: tuple[str, ...] = (),
                 cgroups: tuple[str, ...] = ()) -> None:
        self.base = tempfile.mkdtemp(prefix="vdsm-virt-libvirt-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.layout = libvirt_setup.private_layout(self.base)
        self.pids: dict[str, int] = {}
        self.netns = netns
        self.old_launchers: list[int] = []
        # Extra settings and arguments, e.g. a TCP listener for migration.
        self.libvirtd_conf = {"max_client_requests": 50, "max_workers": 40,
                              **(libvirtd_conf or {})}
        self.qemu_conf = qemu_conf or {}
        self.libvirtd_args = libvirtd_args
        # cgroup v1 controllers libvirtd sees (CPU/blkio tuning of guests)
        self.cgroups = cgroups

    @property
    def uri(self) -> str:
        return self.layout.uri

    def start(self) -> None:
        """Raises RuntimeError with the reason when it cannot start."""
        binaries, missing = libvirt_setup.find_binaries()
        if missing:
            raise RuntimeError(f"missing programs: {', '.join(missing)}")
        libvirt_setup.configure(self.layout)
        # Room for calls stuck on a stopped QEMU beside the normal ones.
        libvirt_conf.update(
            os.path.join(self.base, "etc/libvirt/libvirtd.conf"),
            self.libvirtd_conf)
        if self.qemu_conf:
            libvirt_conf.update(os.path.join(self.base, "etc/libvirt/qemu.conf"),
                                self.qemu_conf)
        self._start_daemons(binaries)
        state, detail = libvirt_setup.wait_running(self.uri, timeout=30)
        if state != "running":
            raise RuntimeError(f"private libvirtd does not answer: {detail}")

    def _start_daemons(self, binaries: dict[str, str]) -> None:
        """As vds_bootstrap starts them, libvirtd inside ``netns`` if set
        (so guest NICs and bridges stay out of the host's network)."""
        for daemon in ("virtlogd", "libvirtd"):
            pid = read_pid(self.layout.pidfile(daemon))
            if pid and alive(pid):
                continue
            argv = libvirt_setup._launcher(self.layout, daemon) + [
                binaries[daemon], "-d", "-p", self.layout.pidfile(daemon)]
            if daemon == "libvirtd":
                argv += list(self.libvirtd_args)
            if daemon == "libvirtd" and self.netns:
                argv = ["ip", "netns", "exec", self.netns] + _with_cgroups(
                    self.cgroups, argv)
            commands.run(argv, timeout=30)
        self._read_pids()

    def _read_pids(self) -> None:
        for name in DAEMONS + LAUNCHERS:
            pid = read_pid(self.layout.pidfile(name))
            if pid:
                self.pids[name] = pid

    def libvirtd_pid(self) -> int | None:
        return read_pid(self.layout.pidfile("libvirtd"))

    def restart_libvirtd(self) -> None:
        """Stop libvirtd by pid (guests keep running) and start it again."""
        pid = self.libvirtd_pid()
        if pid:
            stop_pid(pid)
        # The old launcher lives on while QEMUs it adopted run; stop it too.
        launcher = self.pids.pop("subreaper-libvirtd", None)
        if launcher:
            self.old_launchers.append(launcher)
        binaries, _ = libvirt_setup.find_binaries()
        self._start_daemons(binaries)
        state, detail = libvirt_setup.wait_running(self.uri, timeout=30)
        if state != "running":
            raise RuntimeError(f"libvirtd did not come back: {detail}")

    def stop(self) -> None:
        self._read_pids()
        for name in DAEMONS:
            if name in self.pids:
                stop_pid(self.pids[name])
        for name in LAUNCHERS:  # they exit once their daemon is gone
            if name in self.pids:
                stop_pid(self.pids[name], timeout=5.0)
        for pid in self.old_launchers:
            stop_pid(pid, timeout=5.0)

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
