"""The kernel's devices as the applier sees them, and netlink per namespace.

:func:`open_netlink` gives an ``IPRoute`` socket that lives in a named
network namespace (or in our own): a short-lived thread enters the
namespace, opens the socket and ends; the socket keeps answering for that
namespace while the rest of the process stays where it is. :func:`read`
turns one dump of links, addresses and default routes into plain data.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from vdsm.host import netlink

IFF_UP = 0x1


@dataclass(frozen=True)
class Device:
    name: str
    index: int
    kind: str | None  # None for hardware NICs (and lo)
    mtu: int
    up: bool
    master: str | None = None
    parent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # IFLA_INFO_DATA
    addresses: tuple[str, ...] = ()  # IPv4 "a.b.c.d/n"


@dataclass(frozen=True)
class KernelState:
    devices: dict[str, Device]
    default_routes: tuple[tuple[str, str], ...]  # IPv4 (gateway, device)
    dhcp: frozenset[str] = frozenset()  # devices with a running DHCP client


def read(ipr: Any) -> KernelState:
    """Dump the namespace ``ipr`` answers for. Raises NetlinkError."""
    msgs = ipr.get_links()
    links = [netlink.link_from_msg(m) for m in msgs]
    flags = {m["index"]: m["flags"] for m in msgs}
    names = {link.index: link.name for link in links}
    addrs: dict[int, list[str]] = {}
    for msg in ipr.get_addr(family=socket.AF_INET):
        a = netlink.address_from_msg(msg)
        addrs.setdefault(a.index, []).append(a.cidr)
    devices = {}
    for link in links:
        devices[link.name] = Device(
            name=link.name, index=link.index, kind=link.kind, mtu=link.mtu,
            up=bool(flags[link.index] & IFF_UP),
            master=names.get(link.master) if link.master else None,
            parent=names.get(link.parent) if link.parent else None,
            data=dict(link.data),
            addresses=tuple(sorted(addrs.get(link.index, ()))))
    routes = []
    for msg in ipr.get_routes(family=socket.AF_INET,
                              table=netlink.RT_TABLE_MAIN):
        gateway = msg.get_attr("RTA_GATEWAY")
        oif = msg.get_attr("RTA_OIF")
        if msg["dst_len"] == 0 and gateway and oif in names:
            routes.append((gateway, names[oif]))
    return KernelState(devices, tuple(sorted(routes)))


@contextlib.contextmanager
def open_netlink(netns: str | None) -> Iterator[Any]:
    """An IPRoute for namespace ``netns`` (a name under /run/netns), or for
    ours when None. Entering a namespace needs CAP_SYS_ADMIN; a missing
    one raises FileNotFoundError (it is never created)."""
    from pyroute2 import IPRoute

    if not netns:
        ipr = IPRoute()
    else:
        ipr = _open_in(netns, IPRoute)
    try:
        yield ipr
    finally:
        ipr.close()


def _open_in(netns: str, factory: Any) -> Any:
    from pyroute2.netns import setns

    box: dict[str, Any] = {}

    def enter_and_open() -> None:
        try:
            setns(netns, flags=0)  # this thread only; it ends right after
            box["ipr"] = factory()
        except BaseException as e:  # handed to the caller below
            box["error"] = e

    thread = threading.Thread(target=enter_and_open, name=f"netns-{netns}")
    thread.start()
    thread.join(30)
    if thread.is_alive():
        raise TimeoutError(f"could not open netlink in namespace {netns}")
    if "error" in box:
        raise box["error"]
    return box["ipr"]
