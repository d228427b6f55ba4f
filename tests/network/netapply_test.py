"""Applying devices over netlink in a private namespace, all or nothing."""

from __future__ import annotations

import os

import pytest

from vdsm.network import desired, kernel, netapply, parse
from vdsm.network.errors import FailedIfup

from .nstools import Netns, kernel_lacks, require_root_and_ip


@pytest.fixture
def ns():
    require_root_and_ip()
    ns = Netns(f"vdsmtest-apply-{os.getpid()}")
    try:
        ns.veth("nic0", "wire0")
        ns.veth("nic1", "wire1")
        yield ns
    finally:
        ns.delete()


def _want(networks, bondings=None):
    return desired.build(parse.config_from_dict(
        {"networks": networks, "bondings": bondings or {}}))


def _apply(ns, want, release=None):
    with kernel.open_netlink(ns.name) as ipr:
        return netapply.apply(ipr, want, release or {})


NET1 = {"nic": "nic0", "ipaddr": "10.20.0.2", "prefix": 24,
        "gateway": "10.20.0.1", "defaultRoute": True, "mtu": 9000}


def test_create_verify_is_idempotent_and_remove_restores(ns):
    original = ns.snapshot()
    want = _want({"net1": NET1})
    result = _apply(ns, want)
    assert "create bridge net1" in result["changes"]
    links = ns.links()
    assert links["net1"]["linkinfo"]["info_kind"] == "bridge"
    assert links["nic0"]["master"] == "net1"
    assert links["net1"]["mtu"] == links["nic0"]["mtu"] == 9000
    assert ns.addresses("net1") == ["10.20.0.2/24"]
    assert ns.json("route", "show", "default")[0]["dev"] == "net1"

    assert _apply(ns, want)["changes"] == []
    _apply(ns, {}, desired.released(want, {}))
    assert ns.snapshot() == original


def test_failure_midway_undoes_every_step(ns):
    _apply(ns, _want({"old": {"nic": "nic1", "ipaddr": "10.30.0.2",
                              "prefix": 24, "mtu": 2000}}))
    before = ns.snapshot()
    old = _want({"old": {"nic": "nic1", "ipaddr": "10.30.0.2", "prefix": 24,
                         "mtu": 2000}})
    new = _want({"net1": NET1})
    # The gateway is off-link: the very last step (the route) fails, after
    # "old" was deleted and "net1" built.
    bad = {**new, "net1": desired.Iface(**{**new["net1"].__dict__,
                                          "gateway": "192.0.2.1"})}
    with pytest.raises(FailedIfup, match="default route.*rolled back"):
        _apply(ns, bad, desired.released(old, new))
    assert ns.snapshot() == before


def test_missing_namespace_is_not_created():
    require_root_and_ip()
    with pytest.raises(FileNotFoundError):
        with kernel.open_netlink(f"vdsmtest-none-{os.getpid()}"):
            pass
    assert not os.path.exists(f"/run/netns/vdsmtest-none-{os.getpid()}")


def test_kernel_without_vlans_rolls_back_a_removal(ns):
    reason = kernel_lacks("vlan")
    if reason is None:
        pytest.skip("this kernel has VLANs; the failure this test relies on "
                    "does not happen")
    old = _want({"old": {"nic": "nic1", "ipaddr": "10.30.0.2", "prefix": 24}})
    _apply(ns, old)
    before = ns.snapshot()
    new = _want({"tagged": {"nic": "nic0", "vlan": 10}})
    with pytest.raises(FailedIfup, match="create vlan nic0.10"):
        _apply(ns, new, desired.released(old, new))
    assert ns.snapshot() == before


@pytest.mark.parametrize("kind,networks,bondings", [
    ("vlan", {"tagged": {"nic": "nic0", "vlan": 10, "ipaddr": "10.40.0.2",
                         "prefix": 24}}, {}),
    ("bond", {"bonded": {"bonding": "bond0"}},
     {"bond0": {"nics": ["nic0", "nic1"], "options": "mode=1 miimon=100"}}),
])
def test_vlan_and_bond_end_to_end(ns, kind, networks, bondings):
    reason = kernel_lacks(kind)
    if reason:
        pytest.skip(reason)
    want = _want(networks, bondings)
    _apply(ns, want)
    assert kind in {link.get("linkinfo", {}).get("info_kind")
                    for link in ns.links().values()}
    _apply(ns, {}, desired.released(want, {}))
