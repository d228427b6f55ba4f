from __future__ import annotations

import pytest

from vdsm.network import errors, model, parse
from vdsm.network.model import NetConfig, NetworkAttrs
from vdsm.network.validation import HostView, owned_devices, validate

HOST = HostView(nics=frozenset({"eth0", "eth1", "eth2"}),
                devices=frozenset({"eth0", "eth1", "eth2", "br-foreign",
                                   "net1"}),
                bridge_ports={"net1": ("eth0", "vnet0")})
RUNNING = NetConfig(
    {"net1": NetworkAttrs(nic="eth0"),
     "net2": NetworkAttrs(bonding="bond0", vlan=10, bridged=False)},
    {"bond0": model.BondAttrs(("eth1", "eth2"))})


def _validate(networks, bondings=None, *, running=RUNNING, host=HOST, **kw):
    request = parse.parse_request(networks, bondings or {}, {})
    return validate(request, running, host, **kw)


def test_valid_request_gives_the_new_config():
    new = _validate({"net3": {"bonding": "bond0", "vlan": 11}})
    assert set(new.networks) == {"net1", "net2", "net3"}


def test_dhcp_network_is_valid():
    new = _validate({"n": {"nic": "eth0", "vlan": 9, "bootproto": "dhcp"}})
    assert new.networks["n"].bootproto == "dhcp"


@pytest.mark.parametrize("networks,bondings,error", [
    ({"gone": {"remove": True}}, {}, errors.BadBridge),
    ({}, {"bond9": {"remove": True}}, errors.BadBonding),
    ({"n": {"nic": "eth9"}}, {}, errors.BadNic),
    ({}, {"bond1": {"nics": ["eth9"]}}, errors.BadNic),
    ({"n": {"bonding": "bond7"}}, {}, errors.BadBonding),
    ({"br-foreign": {"nic": "eth0", "vlan": 3}}, {}, errors.BadBridge),
    ({"eth2": {"bridged": False, "nic": "eth0", "vlan": 3}}, {},
     errors.BadBridge),
    # a NIC used twice, in every way
    ({"n": {"nic": "eth0"}}, {}, errors.UsedNic),
    ({"n": {"nic": "eth1"}}, {}, errors.UsedNic),
    ({}, {"bond1": {"nics": ["eth2"]}}, errors.UsedNic),
    ({"n": {"bonding": "bond0", "vlan": 10}}, {}, errors.UsedNic),
    ({}, {"bond0": {"remove": True}}, errors.UsedBond),
    ({"n": {"nic": "eth0", "vlan": 5, "ipaddr": "10.0.0.2", "prefix": 24,
            "defaultRoute": True},
      "m": {"nic": "eth0", "vlan": 6, "ipaddr": "10.0.1.2", "prefix": 24,
            "defaultRoute": True}}, {}, errors.BadParams),
    ({"n": {"nic": "eth0", "vlan": 5, "ipaddr": "10.0.0.2", "prefix": 24},
      "m": {"nic": "eth0", "vlan": 6, "ipaddr": "10.0.0.2", "prefix": 24}},
     {}, errors.BadAddress),
])
def test_bad_requests(networks, bondings, error):
    with pytest.raises(error):
        _validate(networks, bondings)


def test_removing_a_network_vms_use_is_refused():
    with pytest.raises(errors.UsedBridge, match="vnet0"):
        _validate({"net1": {"remove": True}})
    with pytest.raises(errors.UsedBridge, match="vm-a"):
        _validate({"net2": {"remove": True}},
                  vm_users=lambda net: ["vm-a"] if net == "net2" else [])
    host = HostView(HOST.nics, HOST.devices, {"net1": ("eth0",)})
    new = _validate({"net1": {"remove": True}}, host=host)
    assert "net1" not in new.networks


def test_editing_keeps_the_bridge_so_vms_may_stay():
    new = _validate({"net1": {"nic": "eth0", "mtu": 9000}})
    assert new.networks["net1"].mtu == 9000


def test_owned_devices():
    assert owned_devices(RUNNING) == {"net1", "eth0", "bond0", "eth1", "eth2",
                                      "bond0.10"}
