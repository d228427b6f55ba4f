"""Checks of a setupNetworks request against the host, before any change.

:func:`validate` sees the parsed request, the running configuration and
what the kernel has (a :class:`HostView`), and raises the classic network
error for the first problem: unknown NICs and bonds, a NIC used twice, a
bond still in use, a network that does not exist or that VMs still use, a
name taken by a device we do not own. Pure: the caller reads the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from vdsm.network.errors import (
    BadAddress,
    BadBonding,
    BadBridge,
    BadNic,
    BadParams,
    UsedBond,
    UsedBridge,
    UsedNic,
)
from vdsm.network.model import NetConfig, NetworkAttrs, Request


@dataclass(frozen=True)
class HostView:
    """The kernel's devices as validation needs them."""

    nics: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()  # every reported device name
    bridge_ports: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_netinfo(cls, info: dict[str, dict[str, Any]]) -> HostView:
        """From :func:`vdsm.host.netinfo.get` output (lo is no NIC)."""
        nics = frozenset(n for n in info.get("nics", {}) if n != "lo")
        devices = frozenset().union(*(info.get(k, {}) for k in (
            "nics", "bridges", "vlans", "bondings")))
        ports = {name: tuple(b.get("ports", ()))
                 for name, b in info.get("bridges", {}).items()}
        return cls(nics, devices, ports)


def validate(request: Request, running: NetConfig, host: HostView, *,
             vm_users: Callable[[str], list[str]] | None = None) -> NetConfig:
    """Check ``request``; return the configuration it leads to.

    ``vm_users(network)`` optionally names VMs attached to a network (the
    virt subsystem knows); bridge ports that are not the network's own
    uplink count as users too. Raises a NetworkError subclass.
    """
    for name, attrs in request.networks.items():
        if attrs is None and name not in running.networks:
            raise BadBridge(f"Cannot delete network {name!r}: it does not exist")
    for name, attrs in request.bonds.items():
        if attrs is None and name not in running.bonds:
            raise BadBonding(f"Cannot delete bonding {name!r}: it does not exist")
    new = running.updated(request)
    _check_devices(request, running, new, host)
    _check_usage(new)
    _check_bonds_in_use(request, new)
    _check_addresses(new)
    _check_users(request, running, host, vm_users)
    return new


def owned_devices(config: NetConfig) -> set[str]:
    """Names of the devices a configuration creates or uses."""
    names: set[str] = set(config.bonds)
    for bond in config.bonds.values():
        names.update(bond.nics)
    for name, net in config.networks.items():
        if net.bridged:
            names.add(name)
        if net.base:
            names.add(net.base)
        if net.vlan_device:
            names.add(net.vlan_device)
    return names


def _check_devices(request: Request, running: NetConfig, new: NetConfig,
                   host: HostView) -> None:
    ours = owned_devices(running)
    for name, net in request.networks.items():
        if net is None:
            continue
        if net.nic and net.nic not in host.nics:
            raise BadNic(f"network {name!r}: NIC {net.nic!r} does not exist "
                         "on this host")
        if net.bonding and net.bonding not in new.bonds:
            raise BadBonding(f"network {name!r}: bonding {net.bonding!r} does "
                             "not exist; define it in bondings")
        if net.bridged and name in host.devices and name not in ours:
            raise BadBridge(f"network {name!r}: a device of that name already "
                            "exists")
        if name in new.bonds or name in host.nics:
            raise BadBridge(f"network {name!r}: the name is a NIC or bonding")
    for name, bond in request.bonds.items():
        if bond is None:
            continue
        for nic in bond.nics:
            if nic not in host.nics:
                raise BadNic(f"bonding {name!r}: NIC {nic!r} does not exist "
                             "on this host")
        if name in host.devices and name not in ours:
            raise BadBonding(f"bonding {name!r}: a device of that name "
                             "already exists")


def _check_usage(new: NetConfig) -> None:
    """A NIC serves one bond, or networks; each device one untagged
    network and each VLAN id once."""
    slave_of: dict[str, str] = {}
    for bond_name, bond in sorted(new.bonds.items()):
        for nic in bond.nics:
            if nic in slave_of:
                raise UsedNic(f"NIC {nic!r} is already a slave of bonding "
                              f"{slave_of[nic]!r}, cannot join {bond_name!r}")
            slave_of[nic] = bond_name
    untagged: dict[str, str] = {}
    tagged: dict[tuple[str, int], str] = {}
    for name, net in sorted(new.networks.items()):
        if net.nic in slave_of:
            raise UsedNic(f"network {name!r}: NIC {net.nic!r} is a slave of "
                          f"bonding {slave_of[net.nic]!r}")
        if net.base is None:
            continue
        if net.vlan is None:
            other = untagged.setdefault(net.base, name)
            if other != name:
                raise UsedNic(f"network {name!r}: {net.base!r} already carries "
                              f"the untagged network {other!r}")
        else:
            other = tagged.setdefault((net.base, net.vlan), name)
            if other != name:
                raise UsedNic(f"network {name!r}: VLAN {net.vlan} on "
                              f"{net.base!r} is already used by {other!r}")


def _check_bonds_in_use(request: Request, new: NetConfig) -> None:
    for name, bond in request.bonds.items():
        if bond is not None:
            continue
        users = sorted(n for n, net in new.networks.items()
                       if net.bonding == name)
        if users:
            raise UsedBond(f"Cannot delete bonding {name!r}: used by "
                           f"network(s) {', '.join(users)}")


def _check_addresses(new: NetConfig) -> None:
    seen: dict[str, str] = {}
    defaults = []
    for name, net in sorted(new.networks.items()):
        if net.ipaddr:
            other = seen.setdefault(net.ipaddr, name)
            if other != name:
                raise BadAddress(f"network {name!r}: address {net.ipaddr} is "
                                 f"already used by {other!r}")
        if net.default_route:
            defaults.append(name)
    if len(defaults) > 1:
        raise BadParams(f"only one network may have defaultRoute, not "
                        f"{', '.join(defaults)}")


def _uplink(net: NetworkAttrs) -> str | None:
    return net.vlan_device or net.base


def _check_users(request: Request, running: NetConfig, host: HostView,
                 vm_users: Callable[[str], list[str]] | None) -> None:
    """A network going away (or losing its bridge) must have no users:
    no bridge ports but its own uplink, no VMs the virt subsystem names."""
    for name, net in request.networks.items():
        old = running.networks.get(name)
        if old is None or (net is not None and net.bridged == old.bridged):
            continue
        users = [p for p in host.bridge_ports.get(name, ())
                 if old.bridged and p != _uplink(old)]
        if vm_users is not None:
            users += [u for u in vm_users(name) if u not in users]
        if users:
            raise UsedBridge(f"Cannot remove network {name!r}: in use by "
                             f"{', '.join(sorted(users))}")
