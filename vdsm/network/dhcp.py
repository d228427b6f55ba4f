"""DHCP clients for networks with ``bootproto: dhcp`` (busybox udhcpc).

One client per top device (the bridge, or the NIC/VLAN/bond of a
bridgeless network), started in the managed namespace by supervdsmd and
left running as a daemon that renews the lease. :meth:`DhcpClients.start`
returns once the lease is on the device (udhcpc ``-n`` runs our event
script, which adds the address, before it goes to the background) or
raises FailedIfup after about ``timeout`` seconds. udhcpc's parent exits
once the lease is set, before its daemon child rewrites the pid file with
its own pid: start also waits (bounded) for the pid file to name a live
client, so a change that follows (or a rollback's comparison) sees it;
without that wait a rollback could not stop a client it had just
started, nor one started by the change before. :meth:`stop` ends it
by the pid in its pid file (``-R``: the lease is released and the script
flushes the address). The event script is ours, not the distribution's:
it only sets the address, never resolv.conf or routes.

Pid files live in ``<run_dir>/dhcp/<device>.pid``; a reboot (tmpfs run
dir) forgets them with the clients. Not thread-safe per device: the
network service serializes changes.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time

from vdsm.common import commands
from vdsm.network.errors import FailedIfup

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
# How long the daemonized client may take to write its pid file after its
# parent exited (a loaded machine can delay it by seconds).
PIDFILE_TIMEOUT = 15.0
SCRIPT_NAME = "udhcpc-event"
# udhcpc runs this at each DHCP event with the lease in its environment
# ($interface, $ip, $mask = prefix length, $lease = seconds). A finite
# lifetime makes the kernel mark the address dynamic (reported dhcpv4).
SCRIPT = """#!/bin/sh
# Written by vdsm: sets the address a DHCP lease gives, nothing else.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
lft="valid_lft ${lease:-forever} preferred_lft ${lease:-forever}"
case "$1" in
    deconfig) ip -4 addr flush dev "$interface" ;;
    bound) ip -4 addr flush dev "$interface"
           ip addr add "$ip/$mask" dev "$interface" $lft ;;
    renew) ip addr replace "$ip/$mask" dev "$interface" $lft ;;
esac
exit 0
"""


def client_program() -> list[str]:
    """argv prefix of the DHCP client; raises FailedIfup if none is
    installed."""
    if shutil.which("busybox"):
        return ["busybox", "udhcpc"]
    if shutil.which("udhcpc"):
        return ["udhcpc"]
    raise FailedIfup("no DHCP client installed (busybox udhcpc)")


def client_argv(program: list[str], device: str, *, pidfile: str,
                script: str, timeout: int, netns: str | None) -> list[str]:
    """The command that gets a lease for ``device`` within about
    ``timeout`` seconds (one discover a second), then daemonizes; it
    exits 1 if no lease came. Pure."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return prefix + program + [
        "-i", device, "-p", pidfile, "-s", script,
        "-R",  # release the lease when stopped
        "-n",  # exit (rc 1) if no lease is obtained
        "-t", str(max(1, int(timeout))), "-T", "1", "-A", "1"]


class DhcpClients:
    """The DHCP clients of one namespace (``netns`` None: our own)."""

    def __init__(self, run_dir: str, *, netns: str | None,
                 timeout: int, program: list[str] | None = None) -> None:
        """``program``: the client's argv prefix (default
        :func:`client_program`)."""
        self._dir = os.path.join(run_dir, "dhcp")
        self._netns = netns
        self._timeout = timeout
        self._program = program

    def pidfile(self, device: str) -> str:
        return os.path.join(self._dir, f"{device}.pid")

    def pid(self, device: str) -> int | None:
        """The pid of ``device``'s running client, or None."""
        try:
            with open(self.pidfile(device)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        # Else a reused pid, or a dead client.
        return pid if self._is_client(pid, device) else None

    def _is_client(self, pid: int, device: str) -> bool:
        """Whether ``pid`` is a live client started for ``device`` here."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False
        return not zombie and b"udhcpc" in args and device.encode() in args \
            and self.pidfile(device).encode() in args

    def _unlisted(self, device: str) -> list[int]:
        """Clients of ``device`` its pid file does not name (a daemon that
        has not written it yet)."""
        listed = self.pid(device)
        return [int(p) for p in os.listdir("/proc") if p.isdigit()
                and int(p) != listed and self._is_client(int(p), device)]

    def clients(self) -> set[str]:
        """Devices with a running client."""
        try:
            names = os.listdir(self._dir)
        except FileNotFoundError:
            return set()
        devices = {n[:-4] for n in names if n.endswith(".pid")}
        return {d for d in devices if self.pid(d) is not None}

    def start(self, device: str) -> None:
        """Start ``device``'s client and wait for its lease; raises
        FailedIfup (leaving no client) when none comes in time."""
        if self.pid(device) is not None:
            return
        argv = client_argv(self._program or client_program(), device,
                           pidfile=self.pidfile(device),
                           script=self._script(), timeout=self._timeout,
                           netns=self._netns)
        log.info("starting the DHCP client of %s", device)
        start = time.monotonic()
        try:
            commands.run(argv, timeout=self._timeout + 10)
        except commands.CommandError as e:
            self.stop(device)
            raise FailedIfup(f"no DHCP lease for {device} within "
                             f"{time.monotonic() - start:.0f} s"
                             f" (udhcpc rc {e.rc})") from None
        if not self._wait_for_daemon(device):
            for pid in self._unlisted(device):
                log.warning("killing the DHCP client of %s (pid %d) that "
                            "did not write its pid file", device, pid)
                self._signal_and_wait(device, pid, signal.SIGKILL)
            self.stop(device)
            raise FailedIfup(f"the DHCP client of {device} got a lease but "
                             f"its daemon did not show up within "
                             f"{PIDFILE_TIMEOUT:g} s")
        log.info("DHCP lease for %s after %.1f s", device,
                 time.monotonic() - start)

    def _wait_for_daemon(self, device: str) -> bool:
        """True once the pid file names the running (daemonized) client."""
        deadline = time.monotonic() + PIDFILE_TIMEOUT
        while self.pid(device) is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, device: str) -> bool:
        """End ``device``'s client (releasing its lease); False if none
        ran. Raises FailedIfup if it outlives SIGKILL."""
        pid = self.pid(device)
        if pid is not None:
            log.info("stopping the DHCP client of %s (pid %d)", device, pid)
            if not self._signal_and_wait(device, pid, signal.SIGTERM):
                log.warning("DHCP client of %s ignored SIGTERM", device)
                if not self._signal_and_wait(device, pid, signal.SIGKILL):
                    raise FailedIfup(f"cannot stop the DHCP client of "
                                     f"{device} (pid {pid})")
        try:
            os.unlink(self.pidfile(device))
        except FileNotFoundError:
            pass
        return pid is not None

    def _signal_and_wait(self, device: str, pid: int, sig: int) -> bool:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if not self._is_client(pid, device):
                return True
            time.sleep(0.05)
        return False

    def _script(self) -> str:
        os.makedirs(self._dir, mode=0o755, exist_ok=True)
        path = os.path.join(self._dir, SCRIPT_NAME)
        try:
            with open(path) as f:
                if f.read() == SCRIPT:
                    return path
        except FileNotFoundError:
            pass
        tmp = path + ".tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700),
                  "w") as f:
            f.write(SCRIPT)
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)
        return path
