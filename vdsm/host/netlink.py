"""A snapshot of links, addresses and default routes, read over netlink.

Netlink answers for the namespace the socket lives in, so the same code
describes the host's own devices (``IPRoute``) or another namespace's
(``pyroute2.NetNS``). Messages are turned into plain dataclasses at once:
everything above this module is pure and testable without netlink.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

RT_TABLE_MAIN = 254
RT_SCOPE_LINK = 253
IFA_F_SECONDARY = 0x01
IFA_F_PERMANENT = 0x80


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    # IFLA_INFO_KIND: 'bridge', 'bond', 'vlan', 'veth', ...; None for
    # hardware NICs and lo.
    kind: str | None
    hwaddr: str = ""
    mtu: int = 0
    operstate: str = "UNKNOWN"
    master: int | None = None
    parent: int | None = None  # IFLA_LINK: the device a vlan sits on
    data: dict[str, Any] = field(default_factory=dict)  # IFLA_INFO_DATA
    perm_hwaddr: str = ""


@dataclass(frozen=True)
class Address:
    index: int
    family: int  # socket.AF_INET or socket.AF_INET6
    address: str
    prefixlen: int
    scope: int = 0
    flags: int = IFA_F_PERMANENT

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"

    @property
    def primary(self) -> bool:
        return not self.flags & IFA_F_SECONDARY

    @property
    def dynamic(self) -> bool:
        return not self.flags & IFA_F_PERMANENT


@dataclass(frozen=True)
class DefaultRoute:
    family: int
    gateway: str
    oif: int


@dataclass(frozen=True)
class Snapshot:
    links: list[Link]
    addresses: list[Address]
    default_routes: list[DefaultRoute]


def _scalar_attrs(nla: Any) -> dict[str, Any]:
    if nla is None:
        return {}
    return {name: value for name, value in nla.get("attrs", ())
            if name != "UNKNOWN" and isinstance(value, (int, str))}


def link_from_msg(msg: Any) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    data = _scalar_attrs(info.get_attr("IFLA_INFO_DATA")) if info is not None \
        else {}
    return Link(
        index=msg["index"],
        name=msg.get_attr("IFLA_IFNAME"),
        kind=kind,
        hwaddr=msg.get_attr("IFLA_ADDRESS") or "",
        mtu=msg.get_attr("IFLA_MTU") or 0,
        operstate=msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN",
        master=msg.get_attr("IFLA_MASTER"),
        parent=msg.get_attr("IFLA_LINK"),
        data=data,
        perm_hwaddr=msg.get_attr("IFLA_PERM_ADDRESS") or "",
    )


def address_from_msg(msg: Any) -> Address:
    family = msg["family"]
    # On point-to-point links IFA_LOCAL is ours and IFA_ADDRESS the peer's.
    address = msg.get_attr("IFA_LOCAL") if family == socket.AF_INET else None
    return Address(
        index=msg["index"],
        family=family,
        address=address or msg.get_attr("IFA_ADDRESS"),
        prefixlen=msg["prefixlen"],
        scope=msg["scope"],
        flags=msg.get_attr("IFA_FLAGS") or msg["flags"],
    )


def read(ipr: Any) -> Snapshot:
    """Dump links, addresses and main-table default routes from ``ipr``.

    ``ipr`` is a pyroute2 ``IPRoute`` or ``NetNS``; the caller owns it.
    Raises pyroute2's NetlinkError on failure.
    """
    links = [link_from_msg(m) for m in ipr.get_links()]
    addresses = [address_from_msg(m) for m in ipr.get_addr()]
    routes = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for m in ipr.get_routes(family=family, table=RT_TABLE_MAIN):
            gateway = m.get_attr("RTA_GATEWAY")
            oif = m.get_attr("RTA_OIF")
            if m["dst_len"] == 0 and gateway and oif:
                routes.append(DefaultRoute(family, gateway, oif))
    return Snapshot(links, addresses, routes)
