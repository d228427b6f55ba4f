from __future__ import annotations

from vdsm.network import parse, report

RUNNING = parse.config_from_dict({"networks": {
    "br": {"nic": "eth0", "vlan": 7, "ipaddr": "10.0.0.2", "prefix": 24},
    "plain": {"nic": "eth1", "bridged": False, "mtu": 9000}}})
INFO = {
    "nics": {"eth0": {"mtu": "1500"}, "eth1": {
        "mtu": "9000", "addr": "", "netmask": "", "ipv4addrs": [],
        "ipv6addrs": [], "gateway": "", "ipv6gateway": "::",
        "ipv4defaultroute": False, "dhcpv4": False, "dhcpv6": False}},
    "bridges": {"br": {"mtu": "1500", "ports": ["eth0.7"], "stp": "off",
                       "addr": "10.0.0.2", "netmask": "255.255.255.0",
                       "ipv4addrs": ["10.0.0.2/24"]}},
    "vlans": {"eth0.7": {"mtu": 1500, "vlanid": 7, "iface": "eth0"}},
    "bondings": {},
}


def test_networks_join_config_and_kernel_state():
    nets = report.networks(RUNNING, INFO)
    assert nets["br"]["iface"] == "br" and nets["br"]["ports"] == ["eth0.7"]
    assert nets["br"]["southbound"] == "eth0.7" and nets["br"]["vlanid"] == 7
    assert nets["br"]["addr"] == "10.0.0.2" and nets["br"]["mtu"] == "1500"
    assert nets["br"]["cfg"]["ipaddr"] == "10.0.0.2"
    assert nets["plain"]["interface"] == "eth1" and not nets["plain"]["bridged"]
    assert nets["plain"]["mtu"] == "9000" and "ports" not in nets["plain"]


def test_extend_replaces_devices_of_a_managed_namespace():
    info = {"nics": {"eth9": {}}, "bridges": {}, "vlans": {}, "bondings": {}}
    devices = {**INFO, "nics": {**INFO["nics"], "lo": {}}}
    report.extend(info, RUNNING, devices)
    assert sorted(info["nics"]) == ["eth0", "eth1"]
    assert sorted(info["networks"]) == ["br", "plain"]
