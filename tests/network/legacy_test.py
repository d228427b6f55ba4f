from __future__ import annotations

import pytest

from vdsm.network import legacy, parse
from vdsm.network.errors import BadParams

RUNNING = parse.config_from_dict({
    "networks": {"a": {"bonding": "bond0", "vlan": 1},
                 "b": {"bonding": "bond0", "vlan": 2},
                 "c": {"bonding": "bond1"}},
    "bondings": {"bond0": {"nics": ["e1", "e2"]}, "bond1": {"nics": ["e3"]}}})


def test_add_network_on_a_nic_and_on_a_new_bond():
    assert legacy.add_network("n", "", None, "eth0", {
        "ipaddr": "10.0.0.2", "netmask": "255.255.255.0", "STP": "yes",
        "connectivityCheck": "true"}) == (
        {"n": {"nic": "eth0", "ipaddr": "10.0.0.2", "netmask": "255.255.255.0",
               "stp": "yes"}}, {}, {"connectivityCheck": "true"})
    assert legacy.add_network("n", 5, "bond3", ["e1", "e2"],
                              {"bondingOptions": "mode=1"}) == (
        {"n": {"vlan": 5, "bonding": "bond3"}},
        {"bond3": {"nics": ["e1", "e2"], "options": "mode=1"}}, {})


def test_add_network_without_bond_takes_one_nic():
    with pytest.raises(BadParams):
        legacy.add_network("n", None, None, ["e1", "e2"], {})


def test_del_network_removes_its_bond_only_when_unused():
    assert legacy.del_network(RUNNING, "a") == ({"a": {"remove": True}}, {}, {})
    assert legacy.del_network(RUNNING, "c") == (
        {"c": {"remove": True}}, {"bond1": {"remove": True}}, {})


def test_edit_network_renames_in_one_change():
    networks, bondings, _ = legacy.edit_network("old", "new", None, None,
                                                "eth0", {"mtu": 9000})
    assert networks == {"new": {"nic": "eth0", "mtu": 9000},
                        "old": {"remove": True}}
