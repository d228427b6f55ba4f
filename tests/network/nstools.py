"""Network namespaces for tests: create, fill with veth NICs, compare, remove.

Every change a test makes happens inside namespaces created here, never in
the machine's own; ``Netns.delete`` (called in fixtures' finally) removes
a namespace with everything in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from vdsm.common import commands


def require_root_and_ip() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root")
    if not shutil.which("ip"):
        pytest.skip("iproute2 (ip) is not installed")


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name
        if os.path.exists(f"/run/netns/{name}"):
            commands.run(["ip", "netns", "del", name], timeout=10)
        commands.run(["ip", "netns", "add", name], timeout=10)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str, check: bool = True) -> commands.CommandResult:
        return commands.run(["ip", "-n", self.name, *args], timeout=10,
                            check=check)

    def veth(self, nic: str, peer: str, *, peer_ns: Netns | None = None,
             up: bool = True) -> None:
        """A veth pair: ``nic`` here (the host's NIC), ``peer`` here or in
        ``peer_ns`` (the wire's other end)."""
        self.ip("link", "add", nic, "type", "veth", "peer", "name", peer)
        if peer_ns is not None:
            self.ip("link", "set", peer, "netns", peer_ns.name)
        for name, ns in ((nic, self), (peer, peer_ns or self)):
            if up:
                ns.ip("link", "set", name, "up")

    def json(self, *args: str) -> Any:
        return json.loads(self.ip("-j", *args).out or "[]")

    def links(self) -> dict[str, dict]:
        return {link["ifname"]: link for link in self.json("-d", "link", "show")}

    def addresses(self, name: str) -> list[str]:
        for link in self.json("addr", "show", "dev", name):
            return [f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]
                    if a["family"] == "inet"]
        return []

    def snapshot(self) -> dict[str, Any]:
        """What a network change may touch, as ip(8) reports it."""
        links = {}
        for name, link in self.links().items():
            links[name] = {
                "kind": link.get("linkinfo", {}).get("info_kind"),
                "mtu": link["mtu"], "up": "UP" in link["flags"],
                "master": link.get("master"), "addresses": self.addresses(name)}
        routes = self.json("route", "show", "table", "main")
        return {"links": links,
                "routes": sorted(json.dumps(r, sort_keys=True) for r in routes)}

    def flush(self, nics: list[str]) -> None:
        """A simulated reboot: every device but the NICs gone, the NICs
        unconfigured (down, no address, default MTU)."""
        for name, link in self.links().items():
            kind = link.get("linkinfo", {}).get("info_kind")
            if name != "lo" and kind != "veth":  # veths are the hardware
                self.ip("link", "del", name, check=False)
        for nic in nics:
            self.ip("addr", "flush", "dev", nic)
            self.ip("link", "set", nic, "down", "mtu", "1500")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], timeout=10,
                       check=False, capture_output=True)


def kernel_lacks(kind: str) -> str | None:
    """Why ``ip link add ... type <kind>`` cannot work here, or None."""
    ns = Netns(f"vdsmtest-probe-{os.getpid()}")
    try:
        args = {"vlan": ["link", "add", "p0", "type", "veth", "peer", "name",
                         "p1"]}.get(kind)
        if args:
            ns.ip(*args)
        cmd = {"vlan": ["link", "add", "link", "p0", "name", "p0.5", "type",
                        "vlan", "id", "5"],
               "bond": ["link", "add", "b0", "type", "bond"]}[kind]
        result = ns.ip(*cmd, check=False)
        if result.rc != 0:
            return (f"this kernel cannot create {kind} devices "
                    f"(ip: {result.err.strip()})")
        return None
    finally:
        ns.delete()
