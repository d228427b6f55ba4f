"""The host's network devices in the classic capabilities shape.

``get()`` answers ``nics``, ``bridges``, ``vlans`` and ``bondings`` from
kernel state: topology and addresses over netlink (see :mod:`netlink`), link
speed and IPv6 autoconf from sysfs/procfs. sysfs and /proc/sys/net show the
namespace of whoever mounted or reads them, so those extras are read only
when probing our own namespace; inside another namespace they are reported
as unknown (0 / False).

NICs are hardware devices, lo, veth and dummy links; tap devices (guest
ports), ifb and tunnels are not reported.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
from typing import Any, Callable

from vdsm.host import netlink
from vdsm.host.netlink import Address, Link, Snapshot

log = logging.getLogger(__name__)

SYS_NET = "/sys/class/net"
PROC_IPV6_CONF = "/proc/sys/net/ipv6/conf"
RESOLV_CONF = "/etc/resolv.conf"

NIC_KINDS = (None, "veth", "dummy")
# Active-backup style bond modes, whose speed is the active slave's.
_ACTIVE_SLAVE_MODES = (1, 5, 6)


def get(ipr: Any = None, *, netns: str | None = None) -> dict[str, dict]:
    """``{'nics', 'bridges', 'vlans', 'bondings'}`` of a network namespace.

    With neither argument: this process's namespace (with sysfs extras).
    ``ipr``: a pyroute2 IPRoute/NetNS the caller owns (no sysfs extras).
    ``netns``: the name of a namespace under /var/run/netns, which must
    exist (it is not created: FileNotFoundError). Raises pyroute2's
    NetlinkError on netlink failure.
    """
    if ipr is not None:
        return build(netlink.read(ipr))
    if netns is not None:
        from pyroute2 import NetNS
        with NetNS(netns, flags=0) as ns:
            return build(netlink.read(ns))
    from pyroute2 import IPRoute
    with IPRoute() as own:
        snapshot = netlink.read(own)
    return build(snapshot, speed=sysfs_speed, ipv6_autoconf=ipv6_autoconf)


def sysfs_speed(name: str, *, sys_net: str = SYS_NET) -> int:
    """Link speed in Mb/s from sysfs; 0 when down, virtual or unknown."""
    try:
        with open(os.path.join(sys_net, name, "speed")) as f:
            speed = int(f.read())
    except (OSError, ValueError):
        return 0  # EINVAL for links without a speed (lo, down, virtual)
    return speed if 0 < speed < 2**31 - 1 else 0


def ipv6_autoconf(name: str, *, conf_dir: str = PROC_IPV6_CONF) -> bool:
    try:
        with open(os.path.join(conf_dir, name, "autoconf")) as f:
            return f.read().strip() == "1"
    except FileNotFoundError:
        return False


def supports_ipv6() -> bool:
    return os.path.exists("/proc/net/if_inet6")


def nameservers(path: str = RESOLV_CONF) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    servers = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            servers.append(fields[1])
    return servers


def build(snapshot: Snapshot, *,
          speed: Callable[[str], int] = lambda name: 0,
          ipv6_autoconf: Callable[[str], bool] = lambda name: False,
          ) -> dict[str, dict]:
    """Turn a netlink snapshot into the classic device maps (pure)."""
    by_index = {link.index: link for link in snapshot.links}
    members: dict[int, list[str]] = {}
    for link in snapshot.links:
        if link.master is not None:
            members.setdefault(link.master, []).append(link.name)
    addrs: dict[int, list[Address]] = {}
    for a in snapshot.addresses:
        addrs.setdefault(a.index, []).append(a)
    gateways: dict[tuple[int, int], str] = {}
    for r in snapshot.default_routes:
        gateways.setdefault((r.family, r.oif), r.gateway)

    def ip_info(link: Link) -> dict[str, Any]:
        info = _ip_info(addrs.get(link.index, []),
                        gateways.get((socket.AF_INET, link.index), ""))
        info["gateway"] = gateways.get((socket.AF_INET, link.index), "")
        info["ipv6gateway"] = gateways.get((socket.AF_INET6, link.index), "::")
        info["ipv4defaultroute"] = (socket.AF_INET, link.index) in gateways
        info["ipv6autoconf"] = ipv6_autoconf(link.name)
        return info

    nics, bridges, vlans, bonds = {}, {}, {}, {}
    for link in snapshot.links:
        if link.kind == "bridge":
            bridges[link.name] = {
                **ip_info(link), "mtu": str(link.mtu),
                "ports": sorted(members.get(link.index, [])),
                "stp": "on" if link.data.get("IFLA_BR_STP_STATE") else "off",
                "opts": bridge_opts(link.data)}
        elif link.kind == "bond":
            bonds[link.name] = _bond(link, by_index, members, ip_info(link))
        elif link.kind == "vlan":
            parent = by_index.get(link.parent) if link.parent else None
            vlans[link.name] = {
                **ip_info(link), "mtu": link.mtu,
                "vlanid": link.data.get("IFLA_VLAN_ID", 0),
                "iface": parent.name if parent else ""}
        elif link.kind in NIC_KINDS:
            nic = {**ip_info(link), "hwaddr": link.hwaddr,
                   "mtu": str(link.mtu), "speed": speed(link.name)}
            master = by_index.get(link.master) if link.master else None
            if master is not None and master.kind == "bond":
                nic["permhwaddr"] = link.perm_hwaddr or link.hwaddr
            nics[link.name] = nic
    for bond in bonds.values():
        bond["speed"] = _bond_speed(bond, speed)
    return {"nics": nics, "bridges": bridges, "vlans": vlans,
            "bondings": bonds}


def _ip_info(addrs: list[Address], gateway: str) -> dict[str, Any]:
    """addr/netmask of the primary IPv4 address (preferring the gateway's
    subnet), all addresses in CIDR form, and whether DHCP set them."""
    usable = [a for a in addrs if a.scope != netlink.RT_SCOPE_LINK]
    v4 = [a for a in usable if a.family == socket.AF_INET]
    v6 = [a for a in usable if a.family == socket.AF_INET6]
    primary = None
    for a in v4:
        if a.primary and gateway and _in_subnet(a, gateway):
            primary = a
            break
    if primary is None and v4:
        primary = next((a for a in v4 if a.primary), v4[0])
    addr = netmask = ""
    if primary is not None:
        iface = ipaddress.ip_interface(primary.cidr)
        addr, netmask = str(iface.ip), str(iface.network.netmask)
    return {
        "addr": addr, "netmask": netmask,
        "ipv4addrs": [a.cidr for a in v4], "ipv6addrs": [a.cidr for a in v6],
        "dhcpv4": any(a.dynamic for a in v4),
        # DHCPv6 leases are single /128 addresses; SLAAC gives /64.
        "dhcpv6": any(a.dynamic and a.prefixlen == 128 for a in v6),
    }


def _in_subnet(a: Address, gateway: str) -> bool:
    network = ipaddress.ip_interface(a.cidr).network
    return ipaddress.ip_address(gateway) in network


_BRIDGE_OPT_NAMES = {"mcast_hash_elasticity": "hash_elasticity",
                     "mcast_hash_max": "hash_max"}


def bridge_opts(data: dict[str, Any]) -> dict[str, str]:
    """IFLA_BR_* attributes named as their /sys/class/net/BR/bridge files."""
    opts = {}
    for key, value in data.items():
        if not key.startswith("IFLA_BR_"):
            continue
        name = key[len("IFLA_BR_"):].lower()
        name = _BRIDGE_OPT_NAMES.get(name) or name.replace(
            "mcast_", "multicast_").replace("_cnt", "_count").replace(
            "_intvl", "_interval")
        opts[name] = str(value)
    return opts


def _bond(link: Link, by_index: dict[int, Link], members: dict[int, list[str]],
          info: dict[str, Any]) -> dict[str, Any]:
    opts = {key[len("IFLA_BOND_"):].lower(): str(value)
            for key, value in link.data.items()
            if key.startswith("IFLA_BOND_") and key != "IFLA_BOND_ACTIVE_SLAVE"}
    active = by_index.get(link.data.get("IFLA_BOND_ACTIVE_SLAVE", 0))
    return {**info, "hwaddr": link.hwaddr, "mtu": str(link.mtu),
            "slaves": sorted(members.get(link.index, [])), "opts": opts,
            "active_slave": active.name if active else ""}


def _bond_speed(bond: dict[str, Any], speed: Callable[[str], int]) -> int:
    if bond["active_slave"] and int(bond["opts"].get("mode", 0)) \
            in _ACTIVE_SLAVE_MODES:
        return speed(bond["active_slave"])
    return sum(speed(s) for s in bond["slaves"])


def main(argv: list[str]) -> int:
    """Print netinfo as JSON (``python3 -m vdsm.host.netinfo [NETNS]``)."""
    netns = argv[1] if len(argv) > 1 else None
    json.dump(get(netns=netns), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
