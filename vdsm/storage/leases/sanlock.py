"""The sanlock lease manager.

Formatting asks the daemon (fast) and falls back to ``sanlock direct
init`` when no daemon is reachable, so a domain can be created on a host
that runs none; everything else talks to the sanlock daemon through
python3-sanlock. The daemon's socket is found through
``SANLOCK_RUN_DIR`` (from ``[sanlock] run_dir``, default /run/sanlock).
vds_bootstrap starts the daemon (or the distribution's sanlock service
runs it); tests start a private daemon with ``-w 0`` (no watchdog).

Resource leases belong to this process (registered once): when it dies,
sanlock frees them, which is what lets another host take over the SPM role
after a crash. When this host loses its lockspace (storage gone), sanlock
must get them back from a live holder: by default it sends SIGTERM, which
would stop the whole agent. With ``revoke_signal`` the manager registers
a kill path instead (``kill -s SIG <pid>``), so the agent gets that signal
and gives the leases up itself (the SPM fences itself and stays up).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import threading
from typing import Any

from vdsm.common import commands
from vdsm.storage.errors import (
    AcquireHostIdFailure,
    ClusterLockInitError,
    DomainAlreadyLocked,
    ReleaseHostIdFailure,
    ReleaseLockFailure,
    SanlockInquireError,
)
from vdsm.storage.leases import manager as leases
from vdsm.storage.leases.manager import LeaseOwner, LeaseStatus

log = logging.getLogger(__name__)

SANLOCK = "sanlock"
# The daemon is not running (or not reachable): format directly instead.
_NO_DAEMON = frozenset({errno.ECONNREFUSED, errno.ENOENT, errno.EACCES})


def _sanlock() -> Any:
    import sanlock  # python3-sanlock, a Debian package

    return sanlock


def socket_path() -> str:
    """Where the sanlock daemon listens (python3-sanlock honours
    ``SANLOCK_RUN_DIR`` the same way)."""
    return os.path.join(os.environ.get("SANLOCK_RUN_DIR", "/run/sanlock"),
                        "sanlock.sock")


def _escape(path: str) -> str:
    """sanlock separates fields with ':'; a colon in a path is escaped."""
    return path.replace(":", "\\:")


def _b(text: str) -> bytes:
    return text.encode("utf-8")


class SanlockLeaseManager(leases.LeaseManager):
    name = "sanlock"

    def __init__(self, *, io_timeout: int = 10, command_timeout: float = 60.0,
                 run_dir: str | None = None,
                 revoke_signal: int | None = None) -> None:
        """``run_dir``: the daemon's directory (``[sanlock] run_dir``);
        python3-sanlock reads it only from ``SANLOCK_RUN_DIR``, so it is
        set there unless the environment already names one."""
        if run_dir and "SANLOCK_RUN_DIR" not in os.environ:
            os.environ["SANLOCK_RUN_DIR"] = run_dir
        self.io_timeout = io_timeout
        self.command_timeout = command_timeout
        self.revoke_signal = revoke_signal
        self._fd: int | None = None
        self._lock = threading.Lock()

    # Formatting (direct, no daemon)

    def _direct_init(self, kind: str, spec: str) -> None:
        argv = [SANLOCK, "direct", "init", "-o", str(self.io_timeout), kind, spec]
        try:
            commands.run(argv, timeout=self.command_timeout)
        except commands.CommandError as e:
            raise ClusterLockInitError(
                f"Could not initialize cluster lock: {e.reason}: "
                f"{(e.err or e.out).strip()[:300]}") from None

    def init_lockspace(self, lockspace: str, path: str) -> None:
        sanlock = _sanlock()
        try:
            sanlock.write_lockspace(_b(lockspace), _b(path),
                                    iotimeout=self.io_timeout)
            return
        except sanlock.SanlockException as e:
            if e.errno not in _NO_DAEMON:
                raise ClusterLockInitError(
                    f"Could not initialize lockspace {lockspace}: {e}") from None
        self._direct_init("-s", f"{lockspace}:0:{_escape(path)}:0")

    def init_resource(self, lockspace: str, resource: str, path: str,
                      offset: int) -> None:
        sanlock = _sanlock()
        try:
            sanlock.write_resource(_b(lockspace), _b(resource), [(_b(path), offset)])
            return
        except sanlock.SanlockException as e:
            if e.errno not in _NO_DAEMON:
                raise ClusterLockInitError(
                    f"Could not initialize lease {resource}: {e}") from None
        self._direct_init("-r", f"{lockspace}:{resource}:{_escape(path)}:{offset}")

    # Host ids

    def check_available(self) -> None:
        sanlock = _sanlock()
        try:
            sanlock.get_lockspaces()
        except sanlock.SanlockException as e:
            if e.errno not in _NO_DAEMON:
                raise
            raise AcquireHostIdFailure(
                f"Cannot acquire host id: the sanlock daemon is not running "
                f"or not reachable at {socket_path()} ({e}); start sanlock "
                f"(vds_bootstrap --start-sanlock) and retry") from None

    def acquire_host_id(self, lockspace: str, host_id: int, path: str, *,
                        wait: bool) -> None:
        sanlock = _sanlock()
        try:
            sanlock.add_lockspace(_b(lockspace), host_id, _b(path),
                                  iotimeout=self.io_timeout, wait=wait)
        except sanlock.SanlockException as e:
            if e.errno == errno.EEXIST:
                log.debug("host id %s in %s already held", host_id, lockspace)
                return
            if e.errno == errno.EINPROGRESS and not wait:
                return
            raise AcquireHostIdFailure(
                f"Cannot acquire host id {host_id} in {lockspace}: {e}",
                sd_uuid=lockspace) from None
        log.info("acquiring host id %s in %s (wait=%s)", host_id, lockspace, wait)

    def release_host_id(self, lockspace: str, host_id: int, path: str, *,
                        wait: bool) -> None:
        sanlock = _sanlock()
        try:
            sanlock.rem_lockspace(_b(lockspace), host_id, _b(path), wait=wait)
        except sanlock.SanlockException as e:
            if e.errno == errno.ENOENT:
                return
            if e.errno == errno.EINPROGRESS and not wait:
                return
            raise ReleaseHostIdFailure(
                f"Cannot release host id {host_id} in {lockspace}: {e}") from None
        log.info("released host id %s in %s", host_id, lockspace)

    def has_host_id(self, lockspace: str, host_id: int, path: str) -> bool | None:
        sanlock = _sanlock()
        try:
            return sanlock.inq_lockspace(_b(lockspace), host_id, _b(path))
        except sanlock.SanlockException as e:
            raise SanlockInquireError(f"Cannot inquire {lockspace}: {e}") from None

    # Resources

    def _register(self) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = _sanlock().register()
                if self.revoke_signal is not None:
                    self._set_killpath(self._fd, self.revoke_signal)
            return self._fd

    def _set_killpath(self, fd: int, signo: int) -> None:
        """Have sanlock signal this process, not SIGTERM it, when it wants
        our leases back (the lockspace is failing)."""
        kill = shutil.which("kill") or "/bin/kill"
        name = signal.Signals(signo).name.removeprefix("SIG")
        _sanlock().killpath(_b(kill), [_b("-s"), _b(name), _b(str(os.getpid()))],
                            slkfd=fd)
        log.info("sanlock will send SIG%s to pid %d to take our leases back",
                 name, os.getpid())

    def acquire(self, lockspace: str, resource: str, path: str,
                offset: int) -> LeaseStatus:
        sanlock = _sanlock()
        disks = [(_b(path), offset)]
        try:
            fd = self._register()
            sanlock.acquire(_b(lockspace), _b(resource), disks, slkfd=fd)
        except sanlock.SanlockException as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET, errno.ECONNREFUSED):
                with self._lock:
                    self._fd = None  # the daemon restarted: register again
            if e.errno == errno.ENOSPC or e.errno == errno.ENOENT:
                raise AcquireHostIdFailure(
                    f"No host id in {lockspace} to take {resource}: {e}") from None
            raise DomainAlreadyLocked(
                f"Cannot acquire {resource} in {lockspace}: {e}",
                resource=resource) from None
        log.info("acquired lease %s:%s", lockspace, resource)
        return self.status(lockspace, resource, path, offset)

    def release(self, lockspace: str, resource: str, path: str,
                offset: int) -> None:
        sanlock = _sanlock()
        try:
            sanlock.release(_b(lockspace), _b(resource), [(_b(path), offset)],
                            slkfd=self._register())
        except sanlock.SanlockException as e:
            raise ReleaseLockFailure(
                f"Cannot release {resource} in {lockspace}: {e}") from None
        log.info("released lease %s:%s", lockspace, resource)

    def status(self, lockspace: str, resource: str, path: str,
               offset: int) -> LeaseStatus:
        sanlock = _sanlock()
        try:
            info = sanlock.read_resource(_b(path), offset)
            owners = sanlock.read_resource_owners(
                _b(lockspace), _b(resource), [(_b(path), offset)])
        except sanlock.SanlockException as e:
            raise SanlockInquireError(
                f"Cannot read lease {resource} in {lockspace}: {e}") from None
        return LeaseStatus(
            version=int(info.get("version", 0)),
            owners=tuple(LeaseOwner(o["host_id"], o["generation"]) for o in owners))

    def host_status(self, lockspace: str, host_id: int) -> str:
        """sanlock's view of ``host_id`` (live: its delta lease timestamp
        keeps moving). Raises SanlockInquireError when this host is not in
        the lockspace."""
        sanlock = _sanlock()
        try:
            hosts = sanlock.get_hosts(_b(lockspace), host_id)
        except sanlock.SanlockException as e:
            raise SanlockInquireError(
                f"Cannot read host {host_id} in {lockspace}: {e}") from None
        flags = {sanlock.HOST_LIVE: leases.HOST_LIVE,
                 sanlock.HOST_FAIL: leases.HOST_FAIL,
                 sanlock.HOST_DEAD: leases.HOST_DEAD,
                 sanlock.HOST_FREE: leases.HOST_FREE}
        for host in hosts:
            if host.get("host_id") == host_id:
                return flags.get(host.get("flags"), leases.HOST_UNKNOWN)
        return leases.HOST_FREE


leases.register("sanlock", SanlockLeaseManager)
