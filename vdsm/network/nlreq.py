"""Netlink requests as data, and the builders the planner uses.

A :class:`Req` is one call ``ipr.<obj>(<cmd>, ...)`` that names devices
instead of indexes; :class:`Step` pairs one with the requests that undo
it. Keeping them as data lets the VLAN and bond requests, which this
kernel cannot run, be tested as built. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vdsm.network import bondopts
from vdsm.network.desired import Iface
from vdsm.network.kernel import Device

DEFAULT_DST = "0.0.0.0/0"


@dataclass(frozen=True)
class Req:
    """One netlink request: ``ipr.<obj>(<cmd>, ...)``.

    ``target`` names the device acted on (set/del/addr); ``refs`` maps an
    attribute to a device name resolved to its index ("" means 0, none).
    """

    obj: str  # link | addr | route
    cmd: str  # add | set | del | replace
    target: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        words = [self.obj, self.cmd] + ([self.target] if self.target else [])
        words += [f"{k}={v}" for k, v in sorted(self.args.items())]
        words += [f"{k}={v or '(none)'}" for k, v in sorted(self.refs.items())]
        return " ".join(words)


@dataclass(frozen=True)
class Step:
    what: str
    do: Req
    undo: tuple[Req, ...] = ()


def link_set(name: str, **args: Any) -> Req:
    refs = {"master": args.pop("master")} if "master" in args else {}
    return Req("link", "set", name, args, refs)


def link_add(iface: Iface) -> Req:
    args: dict[str, Any] = {"ifname": iface.name, "kind": iface.kind}
    refs = {}
    if iface.kind == "bridge":
        args["br_stp_state"] = int(iface.stp)
    elif iface.kind == "vlan":
        args["vlan_id"] = iface.vlan_id
        refs["link"] = iface.parent
    elif iface.kind == "bond":
        kw, primary = bondopts.keywords(bondopts.parse(iface.bond_options))
        args.update(kw)
        if primary:
            refs["bond_primary"] = primary
    return Req("link", "add", "", args, refs)


def addr(cmd: str, name: str, cidr: str) -> Req:
    address, _, prefix = cidr.partition("/")
    return Req("addr", cmd, name, {"address": address, "prefixlen": int(prefix)})


def route(cmd: str, gateway: str, dev: str) -> Req:
    return Req("route", cmd, "", {"dst": DEFAULT_DST, "gateway": gateway},
               {"oif": dev})


def recreate(dev: Device) -> tuple[Req, ...]:
    """Requests that bring a deleted device back as it was."""
    args: dict[str, Any] = {"ifname": dev.name, "kind": dev.kind}
    refs = {}
    if dev.kind == "bridge":
        args["br_stp_state"] = int(bool(dev.data.get("IFLA_BR_STP_STATE")))
    elif dev.kind == "vlan":
        args["vlan_id"] = dev.data.get("IFLA_VLAN_ID", 0)
        refs["link"] = dev.parent or ""
    elif dev.kind == "bond":
        args.update(bondopts.keywords(bondopts.from_kernel(dev.data))[0])
    reqs = [Req("link", "add", "", args, refs), link_set(dev.name, mtu=dev.mtu)]
    if dev.up:
        reqs.append(link_set(dev.name, state="up"))
    return tuple(reqs)
