"""Two libvirt hosts on one machine, for the migration tests (test aid).

Host A and host B each get a network namespace (joined by a veth pair,
10.99.0.1/24 and 10.99.0.2/24, created inside the namespaces so the
host's own network is never touched) and a PrivateLibvirt running there
with a TCP listener (``auth_tcp = none``), its own host UUID and its
migration address. The root namespace reaches each through its Unix
socket (``Host.uri``); the hosts reach each other through ``Host.tcp_uri``.
Everything is stopped by pid and the namespaces are deleted in ``stop``,
which is safe to call after a partial start.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from vdsm.common import commands

from .privlibvirt import PrivateLibvirt

log = logging.getLogger(__name__)

SUBNET = "10.99.0"
PREFIX = 24


@dataclass
class Host:
    """One of the two hosts: its namespace, address and libvirt."""

    name: str
    netns: str
    address: str
    libvirt: PrivateLibvirt | None = field(default=None)

    @property
    def uri(self) -> str:
        """From the root namespace (Unix socket)."""
        assert self.libvirt is not None
        return self.libvirt.uri

    @property
    def tcp_uri(self) -> str:
        """From the other host (TCP inside the namespaces' link)."""
        return f"qemu+tcp://{self.address}/system"


class TwoHosts:
    """Host A and host B; ``start`` raises RuntimeError with the reason."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.a = Host("A", f"vdsmmigA-{tag}", f"{SUBNET}.1")
        self.b = Host("B", f"vdsmmigB-{tag}", f"{SUBNET}.2")
        self.veths = (f"vmA{tag}", f"vmB{tag}")
        self.netns_made: list[str] = []

    @property
    def hosts(self) -> tuple[Host, Host]:
        return self.a, self.b

    def start(self) -> None:
        try:
            self._network()
            for host in self.hosts:
                host.libvirt = _host_libvirt(host)
                host.libvirt.start()
        except commands.CommandError as e:
            raise RuntimeError(str(e)) from e

    def _network(self) -> None:
        for host in self.hosts:
            _ip("netns", "add", host.netns)
            self.netns_made.append(host.netns)
            _ip("-n", host.netns, "link", "set", "lo", "up")
        veth_a, veth_b = self.veths
        _ip("-n", self.a.netns, "link", "add", veth_a, "type", "veth",
            "peer", "name", veth_b, "netns", self.b.netns)
        for host, veth in zip(self.hosts, self.veths, strict=True):
            _ip("-n", host.netns, "addr", "add", f"{host.address}/{PREFIX}",
                "dev", veth)
            _ip("-n", host.netns, "link", "set", veth, "up")

    def set_link(self, up: bool) -> None:
        """The migration link up or down (host A's end of the veth)."""
        _ip("-n", self.a.netns, "link", "set", self.veths[0],
            "up" if up else "down")

    def stop(self) -> None:
        """Both libvirts by pid, then the namespaces (and with them the
        veth pair); every step runs even when an earlier one failed."""
        for host in self.hosts:
            if host.libvirt is None:
                continue
            try:
                host.libvirt.stop()
            finally:
                host.libvirt.cleanup()
        for netns in self.netns_made:
            res = commands.run(["ip", "netns", "delete", netns], timeout=10,
                               check=False)
            if res.rc != 0:
                log.warning("cannot delete netns %s: %s", netns, res.err.strip())


def _host_libvirt(host: Host) -> PrivateLibvirt:
    return PrivateLibvirt(
        netns=host.netns,
        libvirtd_conf={"listen_tcp": 1, "listen_tls": 0,
                       "listen_addr": host.address, "auth_tcp": "none"},
        qemu_conf={"migration_host": host.address,
                   "migration_address": host.address,
                   # a cut link ends a peer-to-peer migration in ~3 s
                   "keepalive_interval": 1, "keepalive_count": 3},
        libvirtd_args=("-l",))


def _ip(*args: str) -> None:
    commands.run(["ip", *args], timeout=10)
