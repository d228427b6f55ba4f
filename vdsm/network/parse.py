"""Parsing and checking the classic setupNetworks input.

``setupNetworks(networks, bondings, options)`` takes
``networks = {name: {nic | bonding, vlan, bridged, ipaddr, netmask |
prefix, gateway, bootproto, mtu, stp, defaultRoute}}`` (or ``{remove:
True}``), ``bondings = {name: {nics, options}}`` (or ``{remove: True}``)
and ``options = {connectivityCheck, connectivityTimeout}``. Each entry is
checked on its own (names, numbers, addresses) and the first problem
raises its classic network error; checks that need the current state are
in :mod:`validation`. Pure.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from vdsm.network import bondopts
from vdsm.network.errors import (
    BadAddress,
    BadBonding,
    BadBridge,
    BadNic,
    BadParams,
    BadVlan,
)
from vdsm.network.model import (
    DEFAULT_MTU,
    IFNAMSIZ,
    MAX_CONNECTIVITY_TIMEOUT,
    MAX_MTU,
    MAX_VLAN,
    MIN_MTU,
    BondAttrs,
    NetConfig,
    NetworkAttrs,
    Request,
    SetupOptions,
)

log = logging.getLogger(__name__)

_NET_NAME = re.compile(r"[A-Za-z0-9_+-]{1,15}")
_IFACE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}")
_BOND_NAME = re.compile(r"bond[A-Za-z0-9_]{1,11}")
_NET_KEYS = {"nic", "bonding", "vlan", "bridged", "ipaddr", "netmask",
             "prefix", "gateway", "bootproto", "mtu", "stp", "defaultRoute"}
# Keys the engine sends that ask for nothing when false or empty.
_IDLE_KEYS = {"ipv6addr", "ipv6gateway", "dhcpv6", "ipv6autoconf",
              "hostQos", "nameservers", "custom", "blockingdhcp"}


def config_from_dict(data: dict[str, Any]) -> NetConfig:
    """Rebuild a stored :meth:`NetConfig.to_dict`; raises like the parsers."""
    return NetConfig({n: parse_network(n, a)
                      for n, a in (data.get("networks") or {}).items()},
                     {n: parse_bond(n, b)
                      for n, b in (data.get("bondings") or {}).items()})


def parse_request(networks: dict[str, Any], bondings: dict[str, Any],
                  options: dict[str, Any]) -> Request:
    """Check and type a setupNetworks call; raises a NetworkError."""
    for what, value in (("networks", networks), ("bondings", bondings),
                        ("options", options)):
        if not isinstance(value, dict):
            raise BadParams(f"{what} must be a struct, got {value!r}")
    nets = {name: None if _removal(name, attrs) else parse_network(name, attrs)
            for name, attrs in networks.items()}
    bonds = {name: None if _removal(name, attrs) else parse_bond(name, attrs)
             for name, attrs in bondings.items()}
    return Request(nets, bonds, parse_options(options))


def _removal(name: Any, attrs: Any) -> bool:
    if not isinstance(attrs, dict):
        raise BadParams(f"attributes of {name!r} must be a struct")
    return _bool(attrs.get("remove", False), "remove")


def check_network_name(name: Any) -> str:
    if not isinstance(name, str) or not _NET_NAME.fullmatch(name):
        raise BadBridge(f"bad network name {name!r}: 1-15 characters of "
                        "letters, digits, '_', '+', '-'")
    return name


def check_nic_name(name: Any) -> str:
    if not isinstance(name, str) or not _IFACE_NAME.fullmatch(name):
        raise BadNic(f"bad NIC name {name!r}")
    return name


def check_bond_name(name: Any) -> str:
    if not isinstance(name, str) or not _BOND_NAME.fullmatch(name):
        raise BadBonding(f"bad bonding name {name!r}: 'bond' followed by "
                         "letters, digits or '_', 15 characters at most")
    return name


def parse_network(name: Any, attrs: dict[str, Any]) -> NetworkAttrs:
    check_network_name(name)
    if not isinstance(attrs, dict):
        raise BadParams(f"attributes of network {name!r} must be a struct")
    _check_keys(name, attrs)
    nic = attrs.get("nic") or None
    bonding = attrs.get("bonding") or None
    if nic is not None:
        check_nic_name(nic)
    if bonding is not None:
        check_bond_name(bonding)
    if nic and bonding:
        raise BadParams(f"network {name!r}: give a nic or a bonding, not both")
    vlan = _vlan(name, attrs.get("vlan"), nic or bonding)
    bridged = _bool(attrs.get("bridged", True), "bridged")
    if not bridged and not (nic or bonding):
        raise BadParams(f"bridgeless network {name!r} needs a nic or bonding")
    if vlan is not None and len(f"{nic or bonding}.{vlan}") > IFNAMSIZ:
        raise BadVlan(f"network {name!r}: VLAN device name "
                      f"{nic or bonding}.{vlan} is too long")
    stp = _bool(attrs.get("stp", False), "stp")
    if stp and not bridged:
        raise BadParams(f"network {name!r}: stp needs a bridged network")
    ipaddr, prefix, gateway, bootproto = _addressing(name, attrs)
    return NetworkAttrs(
        nic=nic, bonding=bonding, vlan=vlan, bridged=bridged, ipaddr=ipaddr,
        prefix=prefix, gateway=gateway, bootproto=bootproto,
        mtu=_mtu(name, attrs.get("mtu", DEFAULT_MTU)), stp=stp,
        default_route=_bool(attrs.get("defaultRoute", False), "defaultRoute"))


def _check_keys(name: str, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        if key in _NET_KEYS or key == "remove":
            continue
        if key == "switch":
            if value != "legacy":
                raise BadParams(f"network {name!r}: switch {value!r} is not "
                                "supported (only 'legacy')")
        elif key in _IDLE_KEYS:
            if value and key not in ("custom", "blockingdhcp", "nameservers"):
                raise BadParams(f"network {name!r}: {key} is not supported")
        else:
            raise BadParams(f"network {name!r}: unknown attribute {key!r}")


def _vlan(name: str, value: Any, base: str | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise BadVlan(f"network {name!r}: bad VLAN id {value!r}")
    vlan = int(value)
    if not 0 <= vlan <= MAX_VLAN:
        raise BadVlan(f"network {name!r}: VLAN id {vlan} is not in 0-{MAX_VLAN}")
    if base is None:
        raise BadVlan(f"network {name!r}: a VLAN needs a nic or bonding")
    return vlan


def _mtu(name: str, value: Any) -> int:
    try:
        mtu = _int(value)
    except ValueError:
        raise BadParams(f"network {name!r}: bad mtu {value!r}") from None
    if not MIN_MTU <= mtu <= MAX_MTU:
        raise BadParams(f"network {name!r}: mtu {mtu} is not in "
                        f"{MIN_MTU}-{MAX_MTU}")
    return mtu


def _addressing(name: str, attrs: dict[str, Any]
                ) -> tuple[str | None, int | None, str | None, str]:
    bootproto = attrs.get("bootproto") or "none"
    if bootproto not in ("none", "dhcp"):
        raise BadParams(f"network {name!r}: bootproto must be none or dhcp")
    ipaddr = attrs.get("ipaddr") or None
    netmask = attrs.get("netmask") or None
    prefix_value = attrs.get("prefix")
    gateway = attrs.get("gateway") or None
    if ipaddr is None:
        if netmask or prefix_value not in (None, "") or gateway:
            raise BadAddress(f"network {name!r}: netmask, prefix and gateway "
                             "need an ipaddr")
        return None, None, None, bootproto
    if bootproto == "dhcp":
        raise BadAddress(f"network {name!r}: a static ipaddr and dhcp "
                         "exclude each other")
    address = _ipv4(name, "ipaddr", ipaddr)
    prefix = _prefix(name, netmask, prefix_value)
    iface = ipaddress.IPv4Interface(f"{address}/{prefix}")
    if address.is_loopback or address.is_multicast or address.is_unspecified:
        raise BadAddress(f"network {name!r}: {address} cannot be a host address")
    if prefix < 31 and address in (iface.network.network_address,
                                   iface.network.broadcast_address):
        raise BadAddress(f"network {name!r}: {iface} is not a host address")
    if gateway is not None:
        gw = _ipv4(name, "gateway", gateway)
        if gw not in iface.network or gw == address:
            raise BadAddress(f"network {name!r}: gateway {gw} is not another "
                             f"address of {iface.network}")
        gateway = str(gw)
    return str(address), prefix, gateway, bootproto


def _ipv4(name: str, key: str, value: Any) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise BadAddress(f"network {name!r}: bad {key} {value!r}") from None


def _prefix(name: str, netmask: Any, prefix: Any) -> int:
    result = None
    if netmask is not None:
        try:
            result = ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
        except (ValueError, TypeError):
            raise BadAddress(f"network {name!r}: bad netmask {netmask!r}") \
                from None
    if prefix not in (None, ""):
        try:
            value = _int(prefix)
        except ValueError:
            raise BadAddress(f"network {name!r}: bad prefix {prefix!r}") \
                from None
        if not 1 <= value <= 32 or (result is not None and result != value):
            raise BadAddress(f"network {name!r}: bad prefix {prefix!r}")
        result = value
    if result is None:
        raise BadAddress(f"network {name!r}: ipaddr needs a netmask or prefix")
    if result == 0:
        raise BadAddress(f"network {name!r}: bad netmask {netmask!r}")
    return result


def parse_bond(name: Any, attrs: dict[str, Any]) -> BondAttrs:
    check_bond_name(name)
    if not isinstance(attrs, dict):
        raise BadParams(f"attributes of bonding {name!r} must be a struct")
    unknown = set(attrs) - {"nics", "options", "remove", "switch"}
    if unknown:
        raise BadParams(f"bonding {name!r}: unknown attribute "
                        f"{sorted(unknown)[0]!r}")
    if attrs.get("switch", "legacy") != "legacy":
        raise BadParams(f"bonding {name!r}: only the legacy switch is supported")
    nics = attrs.get("nics")
    if isinstance(nics, str):
        nics = [n for n in nics.split(",") if n]
    if not isinstance(nics, (list, tuple)) or not nics:
        raise BadBonding(f"bonding {name!r} needs at least one NIC")
    for nic in nics:
        check_nic_name(nic)
    if len(set(nics)) != len(nics):
        raise BadBonding(f"bonding {name!r} lists a NIC twice")
    options = attrs.get("options") or bondopts.DEFAULT_OPTIONS
    return BondAttrs(tuple(sorted(nics)), bondopts.canonical(options))


def parse_options(options: dict[str, Any]) -> SetupOptions:
    check = _bool(options.get("connectivityCheck", False), "connectivityCheck")
    timeout = options.get("connectivityTimeout")
    if timeout is not None and timeout != "":
        try:
            timeout = _int(timeout)
        except ValueError:
            raise BadParams(f"bad connectivityTimeout {timeout!r}") from None
        if not 0 <= timeout <= MAX_CONNECTIVITY_TIMEOUT:
            raise BadParams(f"connectivityTimeout must be 0-"
                            f"{MAX_CONNECTIVITY_TIMEOUT} s")
    else:
        timeout = None
    commit = _bool(options.get("commitOnSuccess", False), "commitOnSuccess")
    ignored = set(options) - {"connectivityCheck", "connectivityTimeout",
                              "commitOnSuccess"}
    if ignored:
        log.debug("ignoring setupNetworks options %s", sorted(ignored))
    return SetupOptions(check, timeout, commit)


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
            "true", "false", "yes", "no", "on", "off"):
        return value.lower() in ("true", "yes", "on")
    raise BadParams(f"{key} must be a boolean, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(value)
