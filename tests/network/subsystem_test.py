"""The network verbs end to end: XML-RPC -> agent -> supervdsmd -> netlink,
in a namespace whose veth pairs play the host's NICs."""

from __future__ import annotations

import os

import pytest

from tests.agentproc import AgentRoot, ensure_vdsm_user

from .nstools import Netns, kernel_lacks, require_root_and_ip
from .rig import code

NET1 = {"nic": "nic0", "ipaddr": "10.50.0.2", "netmask": "255.255.255.0",
        "gateway": "10.50.0.1", "defaultRoute": True, "mtu": 9000}


def test_bridged_network_create_edit_remove(rig, agent):
    ns = rig.ns
    original = ns.snapshot()
    assert code(agent.proxy.setupNetworks({"net1": NET1}, {}, {})) == 0
    links = ns.links()
    assert links["net1"]["linkinfo"]["info_kind"] == "bridge"
    assert links["nic0"]["master"] == "net1"
    assert links["net1"]["mtu"] == 9000 and links["nic0"]["mtu"] == 9000
    assert ns.addresses("net1") == ["10.50.0.2/24"]

    caps = agent.proxy.getVdsCapabilities()["info"]
    net = caps["networks"]["net1"]
    assert (net["iface"], net["bridged"], net["addr"], net["mtu"],
            net["ports"], net["gateway"]) == (
        "net1", True, "10.50.0.2", "9000", ["nic0"], "10.50.0.1")
    assert caps["bridges"]["net1"]["ports"] == ["nic0"]
    assert "nic0" in caps["nics"] and "eth0" not in caps["nics"]

    edit = {"nic": "nic1", "ipaddr": "10.60.0.2", "prefix": 16, "stp": True}
    assert code(agent.proxy.setupNetworks({"net1": edit}, {}, {})) == 0
    links = ns.links()
    assert links["nic1"]["master"] == "net1" and "master" not in links["nic0"]
    assert links["net1"]["mtu"] == 1500 and links["nic0"]["mtu"] == 1500
    assert ns.addresses("net1") == ["10.60.0.2/16"]
    assert agent.proxy.Host.getNetworkCapabilities()["info"]["networks"]["net1"][
        "stp"] == "on"

    answer = agent.proxy.setupNetworks({"net1": {"remove": True}}, {}, {})
    assert code(answer) == 0
    assert ns.snapshot() == original
    assert agent.proxy.getVdsCapabilities()["info"]["networks"] == {}


def test_legacy_verbs_add_edit_delete(rig, agent):
    original = rig.ns.snapshot()
    options = {"ipaddr": "10.70.0.2", "netmask": "255.255.255.0", "STP": "no"}
    assert code(agent.proxy.addNetwork("legacy", "", "", ["nic2"], options)) == 0
    assert rig.ns.links()["nic2"]["master"] == "legacy"
    assert code(agent.proxy.editNetwork("legacy", "renamed", "", "", "nic2",
                                        options)) == 0
    links = rig.ns.links()
    assert "legacy" not in links and links["nic2"]["master"] == "renamed"
    assert code(agent.proxy.delNetwork("renamed")) == 0
    assert rig.ns.snapshot() == original


BAD_INPUTS = [
    # (networks, bondings, classic code)
    ({"n2": {"nic": "nic9"}}, {}, 23),                       # unknown NIC
    ({"n2": {"nic": "nic0"}}, {}, 24),                       # NIC used twice
    ({"n2": {"nic": "nic1"}, "n3": {"nic": "nic1"}}, {}, 24),
    ({"n2": {"bonding": "bond0"}},
     {"bond0": {"nics": ["nic1", "nic0"]}}, 24),             # slave in use
    ({"n2": {"nic": "nic1", "vlan": 4095}}, {}, 26),         # bad VLAN id
    ({"n2": {"nic": "nic1", "vlan": "ten"}}, {}, 26),
    ({"n2": {"nic": "nic1", "ipaddr": "10.1.1.300", "prefix": 24}}, {}, 22),
    ({"n2": {"nic": "nic1", "ipaddr": "10.1.1.3", "netmask": "255.0.255.0"}},
     {}, 22),
    ({"bad.name": {"nic": "nic1"}}, {}, 27),                 # bad name
    ({"n2": {"bonding": "bond0"}}, {"bond0": {"nics": []}}, 25),  # bond < 1 NIC
    ({"n2": {"bonding": "bond0"}},
     {"bond0": {"nics": ["nic1"], "options": "mode=9"}}, 25),
    ({"gone": {"remove": True}}, {}, 27),                    # no such network
    ({"net1": {"remove": True}}, {}, 28),                    # a VM uses it
    ({"n2": {"nic": "nic1", "mtu": 10}}, {}, 21),            # bad parameter
]


def test_every_bad_input_has_its_code_and_changes_nothing(rig, agent):
    ns = rig.ns
    assert code(agent.proxy.setupNetworks(
        {"net1": {"nic": "nic0", "ipaddr": "10.50.0.2", "prefix": 24}},
        {}, {})) == 0
    ns.ip("tuntap", "add", "dev", "vnet0", "mode", "tap")  # a VM's port
    ns.ip("link", "set", "vnet0", "master", "net1")
    before = ns.snapshot()
    running = agent.proxy.getVdsCapabilities()["info"]["networks"]
    for networks, bondings, expected in BAD_INPUTS:
        answer = agent.proxy.setupNetworks(networks, bondings, {})
        assert code(answer) == expected, (networks, bondings, answer)
        assert answer["status"]["message"]
        assert ns.snapshot() == before, (networks, bondings)
    assert agent.proxy.getVdsCapabilities()["info"]["networks"] == running


def test_failed_change_is_undone_whole(rig, agent):
    reason = kernel_lacks("vlan")
    if reason is None:
        pytest.skip("this kernel has VLANs; the failure this test relies on "
                    "does not happen")
    assert code(agent.proxy.setupNetworks(
        {"net1": {"nic": "nic0", "ipaddr": "10.50.0.2", "prefix": 24,
                  "mtu": 4000}}, {}, {})) == 0
    before = rig.ns.snapshot()
    answer = agent.proxy.setupNetworks(
        {"net1": {"remove": True}, "tagged": {"nic": "nic1", "vlan": 7}}, {}, {})
    assert code(answer) == 29, answer
    assert "rolled back" in answer["status"]["message"]
    assert rig.ns.snapshot() == before
    assert list(agent.proxy.getVdsCapabilities()["info"]["networks"]) == ["net1"]


def test_unprivileged_vdsmd_reports_the_configured_namespace():
    """vdsmd drops root at start and cannot enter [network] netns: it
    reads the devices through supervdsmd (before: every capabilities call
    answered 16, found by tests/api/fuzz_test.py)."""
    require_root_and_ip()
    ensure_vdsm_user()
    ns = Netns(f"vdsmtest-unpriv-{os.getpid()}")
    root = AgentRoot({("network", "netns"): ns.name})
    try:
        ns.veth("nic0", "wire0")
        root.start_supervdsmd()
        root.start_vdsmd()
        proxy = root.proxy()
        nets = getattr(proxy, "Host.getNetworkCapabilities")()
        assert nets["status"]["code"] == 0, nets
        assert "nic0" in nets["info"]["nics"]
        caps = proxy.getVdsCapabilities()
        assert caps["status"]["code"] == 0, caps
        assert "nic0" in caps["info"]["nics"]
    finally:
        root.cleanup()
        ns.delete()
