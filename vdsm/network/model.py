"""Typed network configuration: networks, bonds, a request, a whole config.

The attributes are those of the classic ``setupNetworks`` input (parsed
and checked by :mod:`vdsm.network.parse`); ``to_dict`` gives them back in
the classic key spelling, which is what the running and safe
configurations store. Pure.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from vdsm.network import bondopts

DEFAULT_MTU = 1500
MIN_MTU, MAX_MTU = 68, 65535
MAX_VLAN = 4094
MAX_CONNECTIVITY_TIMEOUT = 3600
IFNAMSIZ = 15  # longest interface name


@dataclass(frozen=True)
class NetworkAttrs:
    """One logical network: where it sits and how its top device looks."""

    nic: str | None = None
    bonding: str | None = None
    vlan: int | None = None
    bridged: bool = True
    ipaddr: str | None = None
    prefix: int | None = None
    gateway: str | None = None
    bootproto: str = "none"
    mtu: int = DEFAULT_MTU
    stp: bool = False
    default_route: bool = False

    @property
    def base(self) -> str | None:
        """The NIC or bond under the network (None for a port-less bridge)."""
        return self.nic or self.bonding

    @property
    def vlan_device(self) -> str | None:
        if self.vlan is None or self.base is None:
            return None
        return f"{self.base}.{self.vlan}"

    @property
    def netmask(self) -> str | None:
        if self.prefix is None:
            return None
        return str(ipaddress.IPv4Network(f"0.0.0.0/{self.prefix}").netmask)

    @property
    def cidr(self) -> str | None:
        return f"{self.ipaddr}/{self.prefix}" if self.ipaddr else None

    def to_dict(self) -> dict[str, Any]:
        """Classic keys, as stored and reported (``cfg``)."""
        data: dict[str, Any] = {"bridged": self.bridged, "mtu": self.mtu,
                                "bootproto": self.bootproto, "stp": self.stp,
                                "defaultRoute": self.default_route}
        for key in ("nic", "bonding", "vlan", "ipaddr", "prefix", "gateway"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.prefix is not None:
            data["netmask"] = self.netmask
        return data


@dataclass(frozen=True)
class BondAttrs:
    nics: tuple[str, ...]
    options: str = bondopts.canonical(bondopts.DEFAULT_OPTIONS)

    def to_dict(self) -> dict[str, Any]:
        return {"nics": list(self.nics), "options": self.options}


@dataclass(frozen=True)
class SetupOptions:
    connectivity_check: bool = False
    connectivity_timeout: int | None = None
    commit_on_success: bool = False


@dataclass(frozen=True)
class Request:
    """A parsed setupNetworks call; ``None`` values mean "remove"."""

    networks: dict[str, NetworkAttrs | None]
    bonds: dict[str, BondAttrs | None]
    options: SetupOptions = SetupOptions()


@dataclass(frozen=True)
class NetConfig:
    """A whole configuration: the running one, the safe one, a request's
    outcome."""

    networks: dict[str, NetworkAttrs] = field(default_factory=dict)
    bonds: dict[str, BondAttrs] = field(default_factory=dict)

    def updated(self, request: Request) -> NetConfig:
        """This configuration with a request's additions, redefinitions
        and removals (entries not named stay as they are)."""
        networks = dict(self.networks)
        bonds = dict(self.bonds)
        for table, changes in ((networks, request.networks),
                               (bonds, request.bonds)):
            for name, attrs in changes.items():
                if attrs is None:
                    table.pop(name, None)
                else:
                    table[name] = attrs
        return NetConfig(networks, bonds)

    def to_dict(self) -> dict[str, Any]:
        return {"networks": {n: a.to_dict() for n, a in self.networks.items()},
                "bondings": {n: b.to_dict() for n, b in self.bonds.items()}}
