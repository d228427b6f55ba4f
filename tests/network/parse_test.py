from __future__ import annotations

import pytest

from vdsm.network import errors, model, parse
from vdsm.network.model import NetConfig, NetworkAttrs


def test_defaults_of_a_bridged_network():
    net = parse.parse_network("ovirtmgmt", {"nic": "eth0"})
    assert net == NetworkAttrs(nic="eth0")
    assert net.bridged and net.mtu == 1500 and not net.stp
    assert net.base == "eth0" and net.vlan_device is None


def test_static_address_netmask_and_prefix_agree():
    net = parse.parse_network("n1", {
        "nic": "eth0", "vlan": "100", "ipaddr": "10.1.0.5",
        "netmask": "255.255.255.0", "prefix": 24, "gateway": "10.1.0.1",
        "mtu": "9000", "stp": "on", "defaultRoute": True})
    assert (net.vlan, net.prefix, net.netmask, net.mtu, net.stp) == \
        (100, 24, "255.255.255.0", 9000, True)
    assert net.vlan_device == "eth0.100" and net.cidr == "10.1.0.5/24"


def test_stored_form_round_trips():
    config = NetConfig(
        {"n1": parse.parse_network("n1", {"bonding": "bond0", "vlan": 5,
                                          "ipaddr": "10.0.0.2", "prefix": 8,
                                          "bridged": False})},
        {"bond0": parse.parse_bond("bond0", {"nics": ["b", "a"]})})
    assert parse.config_from_dict(config.to_dict()) == config
    assert config.bonds["bond0"].nics == ("a", "b")
    assert config.bonds["bond0"].options == "mode=4 miimon=150"


BAD = [
    ({"nic": "eth0", "vlan": 4095}, errors.BadVlan),
    ({"nic": "eth0", "vlan": "x"}, errors.BadVlan),
    ({"nic": "eth0", "vlan": True}, errors.BadVlan),
    ({"vlan": 10}, errors.BadVlan),
    ({"nic": "averylongnic12", "vlan": 100}, errors.BadVlan),
    ({"nic": "eth0", "ipaddr": "10.0.0.300", "prefix": 24}, errors.BadAddress),
    ({"nic": "eth0", "ipaddr": "10.0.0.3"}, errors.BadAddress),
    ({"nic": "eth0", "ipaddr": "10.0.0.3", "netmask": "255.0.255.0"},
     errors.BadAddress),
    ({"nic": "eth0", "ipaddr": "10.0.0.3", "netmask": "255.255.255.0",
      "prefix": 16}, errors.BadAddress),
    ({"nic": "eth0", "ipaddr": "10.0.0.0", "prefix": 24}, errors.BadAddress),
    ({"nic": "eth0", "ipaddr": "10.0.0.3", "prefix": 24,
      "gateway": "10.9.0.1"}, errors.BadAddress),
    ({"nic": "eth0", "gateway": "10.0.0.1"}, errors.BadAddress),
    ({"nic": "eth0", "ipaddr": "10.0.0.3", "prefix": 24, "bootproto": "dhcp"},
     errors.BadAddress),
    ({"nic": "eth0", "bootproto": "bootp"}, errors.BadParams),
    ({"nic": "eth0", "mtu": 20}, errors.BadParams),
    ({"nic": "eth0", "mtu": "big"}, errors.BadParams),
    ({"nic": "eth0", "bonding": "bond0"}, errors.BadParams),
    ({"bridged": False}, errors.BadParams),
    ({"nic": "eth0", "bridged": "maybe"}, errors.BadParams),
    ({"nic": "eth0", "colour": "blue"}, errors.BadParams),
    ({"nic": "eth0", "ipv6addr": "fd00::1/64"}, errors.BadParams),
    ({"nic": "eth0", "switch": "ovs"}, errors.BadParams),
    ({"nic": "eth 0"}, errors.BadNic),
    ({"bonding": "team0"}, errors.BadBonding),
]


@pytest.mark.parametrize("attrs,error", BAD)
def test_bad_network_attributes(attrs, error):
    with pytest.raises(error):
        parse.parse_network("net1", attrs)


@pytest.mark.parametrize("name", ["", "a.b", "a:b", "a b", "x" * 16, 7])
def test_bad_network_names_are_bad_bridge(name):
    with pytest.raises(errors.BadBridge):
        parse.parse_network(name, {"nic": "eth0"})


@pytest.mark.parametrize("name,attrs,error", [
    ("bond0", {"nics": []}, errors.BadBonding),
    ("bond0", {}, errors.BadBonding),
    ("bond0", {"nics": ["a", "a"]}, errors.BadBonding),
    ("bond0", {"nics": ["a"], "options": "foo=1"}, errors.BadBonding),
    ("eth0", {"nics": ["a"]}, errors.BadBonding),
    ("bond0", {"nics": ["a"], "mtu": 9000}, errors.BadParams),
])
def test_bad_bondings(name, attrs, error):
    with pytest.raises(error):
        parse.parse_bond(name, attrs)


def test_request_with_removals_and_options():
    req = parse.parse_request(
        {"old": {"remove": "true"}, "new": {"nic": "eth1"}},
        {"bond1": {"remove": True}},
        {"connectivityCheck": "true", "connectivityTimeout": "30",
         "_inRollback": True})
    assert req.networks == {"old": None, "new": NetworkAttrs(nic="eth1")}
    assert req.bonds == {"bond1": None}
    assert req.options.connectivity_check and \
        req.options.connectivity_timeout == 30


@pytest.mark.parametrize("options", [
    {"connectivityTimeout": -1}, {"connectivityTimeout": "soon"},
    {"connectivityCheck": "perhaps"}])
def test_bad_options(options):
    with pytest.raises(errors.BadParams):
        parse.parse_request({}, {}, options)


def test_updated_replaces_adds_and_removes():
    a, b = NetworkAttrs(nic="e1"), NetworkAttrs(nic="e2")
    config = NetConfig({"a": a, "b": b}, {})
    req = model.Request({"a": None, "b": a, "c": b}, {})
    assert config.updated(req) == NetConfig({"b": a, "c": b}, {})
    assert config.networks == {"a": a, "b": b}  # unchanged
