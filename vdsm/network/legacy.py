"""addNetwork, delNetwork and editNetwork as setupNetworks requests.

The older one-network verbs survive for scripts and old engines; each is
translated into one ``(networks, bondings, options)`` triple, so the
same validation, rollback and persistence apply. Pure.
"""

from __future__ import annotations

from typing import Any

from vdsm.network.errors import BadParams
from vdsm.network.model import NetConfig

Triple = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
_SETUP_OPTIONS = ("connectivityCheck", "connectivityTimeout")


def _nic_list(nics: Any) -> list[str]:
    if nics in (None, ""):
        return []
    if isinstance(nics, str):
        return [n for n in nics.split(",") if n]
    if isinstance(nics, (list, tuple)) and all(isinstance(n, str) for n in nics):
        return list(nics)
    raise BadParams(f"nics must be a list of names, got {nics!r}")


def _network(vlan: Any, bond: str | None, nics: Any,
             options: dict[str, Any] | None) -> tuple[dict, dict, dict]:
    attrs = dict(options or {})
    setup = {k: attrs.pop(k) for k in _SETUP_OPTIONS if k in attrs}
    bond_options = attrs.pop("bondingOptions", None)
    if "STP" in attrs:
        attrs["stp"] = attrs.pop("STP")
    nic_names = _nic_list(nics)
    if vlan not in (None, ""):
        attrs["vlan"] = vlan
    bondings: dict[str, Any] = {}
    if bond:
        attrs["bonding"] = bond
        if nic_names:
            bondings[bond] = {"nics": nic_names}
            if bond_options:
                bondings[bond]["options"] = bond_options
    elif len(nic_names) == 1:
        attrs["nic"] = nic_names[0]
    elif nic_names:
        raise BadParams("without a bond, a network takes exactly one NIC")
    return attrs, bondings, setup


def add_network(bridge: str, vlan: Any = None, bond: str | None = None,
                nics: Any = None, options: dict[str, Any] | None = None
                ) -> Triple:
    attrs, bondings, setup = _network(vlan, bond, nics, options)
    return {bridge: attrs}, bondings, setup


def del_network(running: NetConfig, bridge: str, bond: str | None = None,
                options: dict[str, Any] | None = None) -> Triple:
    """Remove ``bridge``; its bond goes too when nothing else uses it."""
    setup = {k: v for k, v in (options or {}).items() if k in _SETUP_OPTIONS}
    net = running.networks.get(bridge)
    bond = bond or (net.bonding if net else None)
    bondings = {}
    if bond and bond in running.bonds and not any(
            n.bonding == bond for name, n in running.networks.items()
            if name != bridge):
        bondings[bond] = {"remove": True}
    return {bridge: {"remove": True}}, bondings, setup


def edit_network(old_bridge: str, new_bridge: str, vlan: Any = None,
                 bond: str | None = None, nics: Any = None,
                 options: dict[str, Any] | None = None) -> Triple:
    """Replace ``old_bridge`` by ``new_bridge`` in one change."""
    attrs, bondings, setup = _network(vlan, bond, nics, options)
    networks: dict[str, Any] = {new_bridge: attrs}
    if old_bridge != new_bridge:
        networks[old_bridge] = {"remove": True}
    return networks, bondings, setup
