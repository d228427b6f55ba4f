from __future__ import annotations

import pytest

from vdsm.network import desired, parse
from vdsm.network.desired import Iface
from vdsm.network.errors import BadBonding, BadNic, BadParams

CONFIG = parse.config_from_dict({
    "networks": {
        "vm": {"bonding": "bond0", "vlan": 10, "mtu": 9000},
        "mgmt": {"bonding": "bond0", "ipaddr": "10.0.0.2", "prefix": 24,
                 "gateway": "10.0.0.1", "defaultRoute": True},
        "storage": {"nic": "eth2", "bridged": False, "ipaddr": "10.1.0.2",
                    "prefix": 24, "gateway": "10.1.0.1"}},
    "bondings": {"bond0": {"nics": ["eth0", "eth1"]}}})


def test_devices_of_a_configuration():
    ifaces = desired.build(CONFIG)
    assert ifaces["bond0"] == Iface("bond0", "bond", 9000, master="mgmt",
                                    bond_options="mode=4 miimon=150")
    assert ifaces["eth0"] == Iface("eth0", "nic", 9000, master="bond0")
    assert ifaces["bond0.10"] == Iface("bond0.10", "vlan", 9000, master="vm",
                                       parent="bond0", vlan_id=10)
    assert ifaces["vm"] == Iface("vm", "bridge", 9000)
    assert ifaces["mgmt"] == Iface("mgmt", "bridge", 1500,
                                   addresses=("10.0.0.2/24",),
                                   gateway="10.0.0.1")
    # a gateway without defaultRoute is recorded, not routed
    assert ifaces["eth2"] == Iface("eth2", "nic", addresses=("10.1.0.2/24",))


def test_wire_round_trip_and_release():
    ifaces = desired.build(CONFIG)
    assert desired.from_wire(desired.to_wire(ifaces)) == ifaces
    assert desired.released(ifaces, {}) == {
        n: i.kind for n, i in ifaces.items()}


@pytest.mark.parametrize("wire", [
    {"x": {"kind": "tap"}},
    {"x": {"kind": "bridge", "mtu": 10}},
    {"x": {"kind": "bridge", "colour": "red"}},
    {"x": {"kind": "vlan", "vlan_id": 5}},
    {"x": {"kind": "nic", "vlan_id": 5}},
    {"x": {"kind": "bond", "bond_options": "evil=1"}},
    {"x": {"kind": "bridge", "addresses": ["10.0.0.300/24"]}},
    {"x": {"kind": "nic", "master": "nowhere"}},
    {"x": {"kind": "bridge", "stp": "yes"}},
])
def test_wire_is_checked_strictly(wire):
    with pytest.raises((BadParams, BadBonding)):
        desired.from_wire(wire)


def test_wire_names_are_interface_names():
    with pytest.raises(BadNic):
        desired.from_wire({"../etc": {"kind": "bridge"}})
    with pytest.raises(BadParams):
        desired.check_release({"x": "bridge"}, {"x": Iface("x", "bridge")})
