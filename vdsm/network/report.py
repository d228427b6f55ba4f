"""The ``networks`` of getVdsCapabilities: configuration joined with state.

Each configured network is reported with the classic keys, taken from
its top device as the kernel has it now (address, MTU, ports, STP), plus
its configuration under ``cfg``. Pure: the caller reads the kernel.
"""

from __future__ import annotations

from typing import Any

from vdsm.network.model import NetConfig, NetworkAttrs

_IP_KEYS = ("addr", "netmask", "gateway", "ipv4addrs", "ipv6addrs",
            "ipv6gateway", "ipv4defaultroute", "dhcpv4", "dhcpv6")


def top_device(name: str, net: NetworkAttrs) -> str:
    """The device holding a network's address."""
    if net.bridged:
        return name
    return net.vlan_device or net.base or name


def networks(running: NetConfig, info: dict[str, dict[str, Any]]
             ) -> dict[str, dict[str, Any]]:
    """``{network: {...}}`` for every running network; ``info`` is the
    netinfo device report (nics, bridges, vlans, bondings)."""
    result = {}
    for name, net in sorted(running.networks.items()):
        top = top_device(name, net)
        dev = {}
        for table in ("bridges", "vlans", "bondings", "nics"):
            if top in info.get(table, {}):
                dev = info[table][top]
                break
        entry: dict[str, Any] = {
            "iface": top, "bridged": net.bridged, "switch": "legacy",
            "southbound": net.vlan_device or net.base or "",
            "mtu": str(dev.get("mtu", net.mtu)),
            "bootproto4": net.bootproto,
            "cfg": net.to_dict(),
        }
        for key in _IP_KEYS:
            if key in dev:
                entry[key] = dev[key]
        if net.vlan is not None:
            entry["vlanid"] = net.vlan
        if net.bridged:
            entry["ports"] = dev.get("ports", [])
            entry["stp"] = dev.get("stp", "off")
        else:
            entry["interface"] = top
        result[name] = entry
    return result


def extend(info: dict[str, Any], running: NetConfig,
           devices: dict[str, dict[str, Any]] | None = None) -> None:
    """Add ``networks`` to a capabilities report. ``devices`` (netinfo of
    the namespace the agent manages, when that is not its own) replaces
    the report's nics/bridges/vlans/bondings."""
    if devices is not None:
        info["nics"] = {n: v for n, v in devices["nics"].items() if n != "lo"}
        for key in ("bridges", "vlans", "bondings"):
            info[key] = devices[key]
    info["networks"] = networks(running, info)
