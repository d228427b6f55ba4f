"""From a network configuration to the kernel devices it needs (pure).

A network ``net1`` on NIC ``eth0``, VLAN 100, bridged, becomes three
devices: ``eth0`` (a NIC), ``eth0.100`` (a VLAN on it, port of the
bridge) and ``net1`` (the bridge, holding the address). :class:`Iface` is
one such device as it should be; :func:`build` derives them all from a
:class:`~vdsm.network.model.NetConfig`. The wire form (:func:`to_wire`,
:func:`from_wire`) is what vdsmd sends supervdsmd, which checks it again
strictly since it crosses the privilege boundary.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

from vdsm.network import bondopts, model, parse
from vdsm.network.errors import BadParams
from vdsm.network.model import DEFAULT_MTU, NetConfig

LAYERS = {"nic": 0, "bond": 1, "vlan": 2, "bridge": 3}
VIRTUAL = ("bond", "vlan", "bridge")


@dataclass(frozen=True)
class Iface:
    """A device as the configuration wants it."""

    name: str
    kind: str  # nic | bond | vlan | bridge
    mtu: int = DEFAULT_MTU
    master: str | None = None  # the bridge or bond this device is a port of
    parent: str | None = None  # vlan: the device it sits on
    vlan_id: int | None = None
    stp: bool = False
    bond_options: str = ""
    addresses: tuple[str, ...] = ()  # IPv4 "a.b.c.d/n"
    gateway: str | None = None  # the default route goes through here
    dhcp: bool = False  # a DHCP client sets the address (see dhcp.py)

    @property
    def layer(self) -> int:
        return LAYERS[self.kind]


def build(config: NetConfig) -> dict[str, Iface]:
    """Every device ``config`` needs, by name."""
    work: dict[str, dict[str, Any]] = {}

    def device(name: str, kind: str, **attrs: Any) -> dict[str, Any]:
        entry = work.setdefault(name, {"name": name, "kind": kind, "mtu": 0})
        entry.update(attrs)
        return entry

    for bond_name, bond in config.bonds.items():
        device(bond_name, "bond", bond_options=bond.options)
        for nic in bond.nics:
            device(nic, "nic", master=bond_name)
    for name, net in config.networks.items():
        chain = []
        if net.base:
            chain.append(device(net.base, "bond" if net.bonding else "nic"))
        if net.vlan_device:
            chain.append(device(net.vlan_device, "vlan", parent=net.base,
                                vlan_id=net.vlan))
        if net.bridged:
            if chain:
                chain[-1]["master"] = name
            chain.append(device(name, "bridge", stp=net.stp))
        top = chain[-1]
        if net.cidr:
            top["addresses"] = (net.cidr,)
        if net.bootproto == "dhcp":
            top["dhcp"] = True
        if net.gateway and net.default_route:
            top["gateway"] = net.gateway
        for entry in chain:
            entry["mtu"] = max(entry["mtu"], net.mtu)
    for entry in work.values():
        entry["mtu"] = entry["mtu"] or DEFAULT_MTU
    for entry in work.values():  # a bond sets its slaves' MTU
        if entry["kind"] == "nic" and entry.get("master") in config.bonds:
            entry["mtu"] = work[entry["master"]]["mtu"]
    return {name: Iface(**entry) for name, entry in work.items()}


def released(old: dict[str, Iface], new: dict[str, Iface]) -> dict[str, str]:
    """Devices ``old`` had and ``new`` has not: ``{name: kind}``."""
    return {name: iface.kind for name, iface in old.items() if name not in new}


def to_wire(ifaces: dict[str, Iface]) -> dict[str, dict[str, Any]]:
    wire = {}
    for name, iface in ifaces.items():
        data = asdict(iface)
        del data["name"]
        data["addresses"] = list(iface.addresses)
        wire[name] = data
    return wire


def from_wire(wire: dict[str, dict[str, Any]]) -> dict[str, Iface]:
    """Rebuild and check devices sent over the wire; raises BadParams."""
    ifaces = {}
    for name, data in wire.items():
        try:
            ifaces[name] = _checked(name, dict(data))
        except (TypeError, ValueError) as e:
            raise BadParams(f"device {name!r}: {e}") from None
    for iface in ifaces.values():
        for ref in (iface.master, iface.parent):
            if ref is not None and ref not in ifaces:
                raise BadParams(f"device {iface.name!r} refers to "
                                f"{ref!r}, which is not in the request")
    return ifaces


def check_release(release: dict[str, str],
                  ifaces: dict[str, Iface]) -> dict[str, str]:
    """Check a ``{name: kind}`` release list from the wire."""
    for name, kind in release.items():
        if kind not in LAYERS:
            raise BadParams(f"device {name!r}: unknown kind {kind!r}")
        if name in ifaces:
            raise BadParams(f"device {name!r} is both wanted and released")
        parse.check_nic_name(name)
    return release


def _checked(name: str, data: dict[str, Any]) -> Iface:
    parse.check_nic_name(name)
    kind = data.pop("kind", None)
    if kind not in LAYERS:
        raise ValueError(f"unknown kind {kind!r}")
    unknown = set(data) - {"mtu", "master", "parent", "vlan_id", "stp",
                           "bond_options", "addresses", "gateway", "dhcp"}
    if unknown:
        raise ValueError(f"unknown attribute(s) {sorted(unknown)}")
    mtu = data.get("mtu", DEFAULT_MTU)
    if not isinstance(mtu, int) or not model.MIN_MTU <= mtu <= model.MAX_MTU:
        raise ValueError(f"bad mtu {mtu!r}")
    for key in ("master", "parent"):
        if data.get(key) is not None:
            parse.check_nic_name(data[key])
    vlan_id = data.get("vlan_id")
    if kind == "vlan":
        if not isinstance(vlan_id, int) or not 0 <= vlan_id <= model.MAX_VLAN \
                or not data.get("parent"):
            raise ValueError("a vlan needs a parent and an id 0-4094")
    elif vlan_id is not None or data.get("parent") is not None:
        raise ValueError("only a vlan has a parent and an id")
    options = data.get("bond_options", "")
    if kind == "bond":
        bondopts.parse(options)
    elif options:
        raise ValueError("only a bond has bond options")
    for key in ("stp", "dhcp"):
        if not isinstance(data.get(key, False), bool):
            raise ValueError(f"{key} must be a boolean")
    addresses = tuple(str(ipaddress.IPv4Interface(a))
                      for a in data.get("addresses") or ())
    gateway = data.get("gateway")
    if gateway is not None:
        gateway = str(ipaddress.IPv4Address(gateway))
    dhcp = data.get("dhcp", False)
    if dhcp and (addresses or data.get("master")):
        raise ValueError("a DHCP device has no static address and is no port")
    return Iface(name=name, kind=kind, mtu=mtu, master=data.get("master"),
                 parent=data.get("parent"), vlan_id=vlan_id,
                 stp=data.get("stp", False), bond_options=options,
                 addresses=addresses, gateway=gateway, dhcp=dhcp)
