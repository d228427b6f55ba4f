"""The planner on recorded kernel states: the requests it builds (VLAN and
bond ones included, which this kernel cannot run) and their undos."""

from __future__ import annotations

import pytest

from vdsm.network import desired, parse, plan
from vdsm.network.errors import BadBridge, BadNic
from vdsm.network.kernel import Device, KernelState
from vdsm.network.nlreq import Req, link_set, route


def _nic(name, index, **kw):
    return Device(name=name, index=index, kind="veth", mtu=kw.pop("mtu", 1500),
                  up=kw.pop("up", True), **kw)


BARE = KernelState({"eth0": _nic("eth0", 2), "eth1": _nic("eth1", 3),
                    "eth2": _nic("eth2", 4)}, ())


def _want(networks, bondings=None):
    return desired.build(parse.config_from_dict(
        {"networks": networks, "bondings": bondings or {}}))


def _requests(steps):
    return [str(s.do) for s in steps]


def test_vlan_network_requests():
    steps = plan.plan(BARE, _want({"n1": {"nic": "eth0", "vlan": 100,
                                          "mtu": 9000}}), {})
    assert _requests(steps) == [
        "link add ifname=eth0.100 kind=vlan vlan_id=100 link=eth0",
        "link add br_stp_state=0 ifname=n1 kind=bridge",
        "link set eth0.100 master=n1",
        "link set eth0 mtu=9000",
        "link set eth0.100 mtu=9000",
        "link set n1 mtu=9000",
        "link set eth0.100 state=up",
        "link set n1 state=up",
    ]
    assert steps[0].undo == (Req("link", "del", "eth0.100"),)
    assert steps[3].undo == (link_set("eth0", mtu=1500),)


def test_bond_requests_enslave_nics_down_then_up():
    steps = plan.plan(BARE, _want(
        {"n1": {"bonding": "bond0", "bridged": False, "ipaddr": "10.0.0.2",
                "prefix": 24}},
        {"bond0": {"nics": ["eth1", "eth2"],
                   "options": "mode=active-backup miimon=100 primary=eth1"}}),
        {})
    reqs = _requests(steps)
    assert reqs[0] == ("link add bond_miimon=100 bond_mode=1 ifname=bond0 "
                       "kind=bond bond_primary=eth1")
    assert reqs[1:5] == ["link set eth1 state=down", "link set eth1 master=bond0",
                         "link set eth2 state=down", "link set eth2 master=bond0"]
    assert "addr add bond0 address=10.0.0.2 prefixlen=24" in reqs
    assert reqs[-3:] == ["link set eth1 state=up", "link set eth2 state=up",
                         "link set bond0 state=up"]
    assert not any("mtu" in r and "eth" in r for r in reqs)  # the bond's job


def test_removal_undo_recreates_what_was_there():
    state = KernelState({
        "eth0": _nic("eth0", 2, master="n1", mtu=9000),
        "n1": Device("n1", 5, "bridge", 9000, True,
                     data={"IFLA_BR_STP_STATE": 1},
                     addresses=("10.0.0.2/24",)),
    }, (("10.0.0.1", "n1"),))
    steps = plan.plan(state, {}, {"n1": "bridge", "eth0": "nic"})
    assert [s.what for s in steps] == [
        "remove default route via 10.0.0.1 on n1", "detach eth0 from n1",
        "remove address 10.0.0.2/24 from n1", "delete bridge n1",
        "reset MTU of eth0"]
    assert [str(r) for r in steps[3].undo] == [
        "link add br_stp_state=1 ifname=n1 kind=bridge",
        "link set n1 mtu=9000", "link set n1 state=up"]
    assert str(steps[0].undo[0]) == \
        "route add dst=0.0.0.0/0 gateway=10.0.0.1 oif=n1"


def test_address_moves_from_nic_to_bridge_with_its_default_route():
    state = KernelState({"eth0": _nic("eth0", 2, addresses=("10.0.0.2/24",))},
                        (("10.0.0.1", "eth0"),))
    steps = plan.plan(state, _want({"mgmt": {
        "nic": "eth0", "ipaddr": "10.0.0.2", "prefix": 24,
        "gateway": "10.0.0.1", "defaultRoute": True}}), {})
    reqs = _requests(steps)
    assert reqs[0] == "route del dst=0.0.0.0/0 gateway=10.0.0.1 oif=eth0"
    assert reqs.index("addr del eth0 address=10.0.0.2 prefixlen=24") < \
        reqs.index("addr add mgmt address=10.0.0.2 prefixlen=24")
    assert reqs[-1] == "route replace dst=0.0.0.0/0 gateway=10.0.0.1 oif=mgmt"
    assert steps[-1].undo == (route("del", "10.0.0.1", "mgmt"),)


def test_mtu_decreases_top_down():
    state = KernelState({
        "eth0": _nic("eth0", 2, master="n1", mtu=9000),
        "n1": Device("n1", 5, "bridge", 9000, True)}, ())
    steps = plan.plan(state, _want({"n1": {"nic": "eth0", "mtu": 1500}}), {})
    assert _requests(steps) == ["link set n1 mtu=1500", "link set eth0 mtu=1500"]


def test_nothing_to_do_when_the_kernel_matches():
    want = _want({"n1": {"nic": "eth0", "ipaddr": "10.0.0.2", "prefix": 24}})
    state = KernelState({
        "eth0": _nic("eth0", 2, master="n1"),
        "n1": Device("n1", 5, "bridge", 1500, True,
                     data={"IFLA_BR_STP_STATE": 0}, addresses=("10.0.0.2/24",))},
        ())
    assert plan.plan(state, want, {}) == []
    assert plan.verify(state, want, {}) == []
    assert sorted(plan.verify(BARE, want, {})) == [
        "eth0: master is None, wanted 'n1'", "n1 is missing"]


def test_a_vm_port_stays_on_a_kept_bridge():
    state = KernelState({
        "eth0": _nic("eth0", 2, master="n1"),
        "vnet0": Device("vnet0", 7, "tun", 1500, True, master="n1"),
        "n1": Device("n1", 5, "bridge", 1500, True)}, ())
    steps = plan.plan(state, _want({"n1": {"nic": "eth0", "mtu": 1500}}), {})
    assert not any("vnet0" in str(s.do) for s in steps)


def test_missing_nic_and_wrong_kind_are_refused_before_any_step():
    with pytest.raises(BadNic):
        plan.plan(BARE, _want({"n1": {"nic": "eth9"}}), {})
    with pytest.raises(BadBridge):
        plan.plan(BARE, _want({"eth1": {"nic": "eth0", "vlan": 3}}), {})


def test_undo_of_releasing_a_bond_slave_downs_it_first():
    state = KernelState({
        "eth1": _nic("eth1", 3, master="bond0"),
        "bond0": Device("bond0", 6, "bond", 1500, True,
                        data={"IFLA_BOND_MODE": 1, "IFLA_BOND_MIIMON": 100})},
        ())
    steps = plan.plan(state, {}, {"bond0": "bond", "eth1": "nic"})
    assert [str(r) for r in steps[0].undo] == [
        "link set eth1 state=down", "link set eth1 master=bond0"]
    assert str(steps[1].undo[0]) == \
        "link add bond_miimon=100 bond_mode=1 ifname=bond0 kind=bond"


DHCP_NET = {"n1": {"nic": "eth0", "bootproto": "dhcp"}}


def _bridged(*, addresses=(), dhcp=frozenset()):
    devices = dict(BARE.devices)
    devices["eth0"] = _nic("eth0", 2, master="n1")
    devices["n1"] = Device(name="n1", index=9, kind="bridge", mtu=1500,
                           up=True, addresses=addresses)
    return KernelState(devices, (), frozenset(dhcp))


def test_dhcp_network_starts_its_client_once_the_bridge_is_up():
    steps = plan.plan(BARE, _want(DHCP_NET), {})
    reqs = _requests(steps)
    assert reqs[-2:] == ["link set n1 state=up", "dhcp start n1"]
    assert steps[-1].undo == (Req("dhcp", "stop", "n1"),)


def test_leased_dhcp_device_keeps_its_client_and_address():
    state = _bridged(addresses=("192.0.2.50/24",), dhcp={"n1"})
    assert plan.plan(state, _want(DHCP_NET), {}) == []
    assert plan.verify(state, _want(DHCP_NET), {}) == []


def test_dhcp_client_without_lease_is_restarted():
    state = _bridged(dhcp={"n1"})
    reqs = _requests(plan.plan(state, _want(DHCP_NET), {}))
    assert reqs == ["dhcp stop n1", "dhcp start n1"]
    assert plan.verify(state, _want(DHCP_NET), {}) == [
        "n1: leased is False, wanted True"]


def test_static_address_goes_before_the_client_starts():
    state = _bridged(addresses=("10.0.0.2/24",))
    reqs = _requests(plan.plan(state, _want(DHCP_NET), {}))
    assert reqs == ["addr del n1 address=10.0.0.2 prefixlen=24",
                    "dhcp start n1"]


def test_removed_dhcp_network_stops_its_client_first_and_can_undo_it():
    state = _bridged(addresses=("192.0.2.50/24",), dhcp={"n1"})
    old, new = _want(DHCP_NET), {}
    steps = plan.plan(state, new, desired.released(old, new))
    assert _requests(steps)[:3] == [
        "dhcp stop n1", "link set eth0 master=(none)", "link del n1"]
    assert steps[0].undo == (Req("dhcp", "start", "n1"),)
    assert not any(s.do.obj == "addr" for s in steps)  # the stop flushed it
    assert sorted(plan.verify(state, new, desired.released(old, new))) == [
        "eth0 is still configured", "n1 still exists"]


def test_dhcp_device_on_the_wire():
    wire = desired.to_wire(_want(DHCP_NET))
    assert wire["n1"]["dhcp"] is True and wire["eth0"]["dhcp"] is False
    assert desired.from_wire(wire) == _want(DHCP_NET)
    for bad in ({"addresses": ["10.0.0.2/24"]}, {"master": "eth0"},
                {"dhcp": "yes"}):
        with pytest.raises(Exception, match="DHCP|dhcp|refers"):
            desired.from_wire({**wire, "n1": {**wire["n1"], **bad}})
